"""Test helpers shared by the services' test suites. In a service's `tests/conftest.py`:

free_event_loop = pytest.fixture(autouse=True)(servicekit.testing.watch_event_loop)
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator

from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from servicekit.loopwatch import LoopWatch

with warnings.catch_warnings():
    # starlette.testclient warns on import when `httpx2` is missing; only that warning is silenced.
    warnings.filterwarnings("ignore", category=StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@functools.cache
def _framework_imported() -> None:
    """Run one throw-away app first: FastAPI and Starlette import parts of themselves on the first lifespan
    and request of a process (~10 ms, once). That is the framework starting, not an app blocking its loop."""
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        client.get("/")
        client.get("/missing")


def watch_event_loop() -> Iterator[LoopWatch]:
    """A fixture body: the test fails if the app under test blocked its event loop (`servicekit.loopwatch`):
    a callback that burned more than a few ms of CPU on the loop, or any SQL sent from the loop's thread."""
    _framework_imported()
    with LoopWatch() as watch:
        yield watch
    if watch.blocks:
        raise AssertionError("the event loop was blocked:\n  " + "\n  ".join(watch.blocks))

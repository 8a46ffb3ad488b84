"""Build FastAPI's route table before the first request, in a worker thread.

FastAPI (0.16x) resolves each included router's routes and dependencies lazily, on the first request
that reaches them: ~5-12 ms of CPU on the event loop, once per process, while every other request
waits. Doing it at start-up, off the loop, keeps even the first request cheap. The hook is a private
method of FastAPI's: where it is missing (another FastAPI version), this does nothing.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import FastAPI


def _build(routes: list[Any]) -> None:
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            _build(candidates())
        low_priority = getattr(route, "effective_low_priority_routes", None)
        if callable(low_priority):
            low_priority()


async def warm_routes(app: FastAPI) -> None:
    """Resolve the app's routes now, in a worker thread (call it at the end of the lifespan's start-up)."""
    await anyio.to_thread.run_sync(_build, list(app.router.routes))

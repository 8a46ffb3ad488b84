"""Blocking work from `async` code, on a worker thread: the one way services keep their event loop free."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def in_thread(function: Callable[[*Ts], T], *args: *Ts) -> T:
    """`await in_thread(service.find_share, session, todo_id, user_id)`: run a blocking call (a database
    query, a file) in anyio's worker pool — the bounded pool (40 threads) FastAPI runs `def` endpoints
    in — and wait for it without holding the loop. For CPU-heavy work give it a pool of its own
    (`anyio.to_thread.run_sync(..., limiter=...)`), as identity does for password hashes."""
    return await anyio.to_thread.run_sync(function, *args)

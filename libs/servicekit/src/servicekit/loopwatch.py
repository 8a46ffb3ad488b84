"""Find what blocks an event loop — the check every service's tests switch on (docs/architecture.md).

An `async def` handler that hashes a password or runs a query holds its event loop, and every other
request on that process waits. `LoopWatch` catches both kinds while tests run:

- **CPU on the loop.** Each callback the loop runs (a step of a request's task is one) is timed with
  the loop thread's own CPU clock (`time.thread_time`), not the wall clock. A callback that burns more
  than `cpu_budget_ms` of CPU is reported. CPU time does not grow when a loaded machine preempts the
  thread or when worker threads hold the GIL, so the check does not turn flaky on a busy 2-core box,
  yet a 120,000-round PBKDF2 (~50 ms of CPU) is far over any budget. Time the garbage collector spends
  in the callback is not counted: a full collection of a test process's heap is not the handler's doing.
- **Blocking I/O on the loop.** Waiting costs no CPU, so it is caught by what it is instead: any SQL
  statement that SQLAlchemy sends from a thread that is running the watched loop is reported, however
  fast it was. Database calls belong in a worker thread (a `def` endpoint, or `anyio.to_thread`).

Which loops are watched: those running outside the main thread — the ones `TestClient` runs an app on.
Loops of `async def` tests (pytest-asyncio, in the main thread) are test code and are left alone.
It wraps `asyncio.events.Handle._run`, so it sees the stdlib loop (what TestClient uses), not uvloop.

    with LoopWatch() as watch:
        ...                      # run requests through TestClient
    assert not watch.blocks, watch.blocks
"""

from __future__ import annotations

import asyncio
import asyncio.events
import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, event

#: Generous for request handling (a JWT check is ~0.1 ms, a JSON answer less; a one-off lazy import a few ms),
#: a fifth of one PBKDF2 check.
DEFAULT_CPU_BUDGET_MS = 10.0


def outside_main_thread() -> bool:
    return threading.current_thread() is not threading.main_thread()


class _Sampler:
    """Notes where each watched thread is, when a callback has run longer than the budget (wall clock):
    the report then names the line that held the loop, not just the task it belonged to."""

    def __init__(self, after: float) -> None:
        self._after = after
        self._running: dict[int, float] = {}  # thread id -> wall-clock start of its current callback
        self.seen: dict[int, str] = {}  # thread id -> the stack seen during its current callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loopwatch-sampler", daemon=True)
        self._thread.start()

    def begin(self, tid: int) -> None:
        self.seen.pop(tid, None)
        self._running[tid] = time.monotonic()

    def end(self, tid: int) -> str | None:
        self._running.pop(tid, None)
        return self.seen.pop(tid, None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def _watch(self) -> None:
        # Early (half the budget) and often: it needs the GIL to look, which the busy thread holds
        # for up to sys.getswitchinterval() (5 ms) at a time.
        while not self._stop.wait(self._after / 5):
            now = time.monotonic()
            frames = None
            for tid, started in list(self._running.items()):
                if now - started > self._after / 2 and tid not in self.seen:
                    frames = frames or sys._current_frames()
                    if tid in frames:
                        stack = traceback.extract_stack(frames[tid])
                        ours = [f for f in stack if f.filename != __file__ and not f.filename.startswith("<frozen")][
                            -6:
                        ]
                        self.seen[tid] = " <- ".join(f"{f.name} ({f.filename}:{f.lineno})" for f in reversed(ours))


def _where(task: Any) -> str:
    """Where a task stands now (its innermost frame): next to whatever just blocked."""
    if not isinstance(task, asyncio.Task):
        return ""
    frames = task.get_stack()
    if not frames:
        return f" in task {task.get_name()}"
    frame = frames[-1]
    return f" in {frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})"


class _Excluded:
    """CPU seconds each thread spent on what is not the app's doing: the garbage collector (gc.callbacks run
    in the collecting thread) and test code run on the loop under `LoopWatch.paused()`."""

    def __init__(self) -> None:
        self._local = threading.local()

    def spent(self) -> float:
        return getattr(self._local, "total", 0.0)

    def add(self, seconds: float) -> None:
        self._local.total = self.spent() + seconds

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._local.started = time.thread_time()
        elif (started := getattr(self._local, "started", None)) is not None:
            self.add(time.thread_time() - started)
            self._local.started = None


class LoopWatch:
    """Collects, in `blocks`, each time a watched event loop was blocked (see the module docstring)."""

    def __init__(
        self, *, cpu_budget_ms: float = DEFAULT_CPU_BUDGET_MS, watched: Callable[[], bool] = outside_main_thread
    ) -> None:
        self.cpu_budget = cpu_budget_ms / 1e3
        self.watched = watched
        self.blocks: list[str] = []
        self._original_run: Callable[[asyncio.Handle], None] | None = None
        self._sampler: _Sampler | None = None
        self._excluded = _Excluded()
        self._paused = threading.local()

    def __enter__(self) -> LoopWatch:
        original = self._original_run = asyncio.events.Handle._run
        watch = self
        sampler = self._sampler = _Sampler(after=self.cpu_budget)
        excluded = self._excluded
        gc.callbacks.append(excluded)

        def timed_run(handle: asyncio.Handle) -> None:
            if not watch.watched():
                return original(handle)
            tid = threading.get_ident()
            sampler.begin(tid)
            start, start_excluded = time.thread_time(), excluded.spent()
            try:
                return original(handle)
            finally:
                spent = time.thread_time() - start - (excluded.spent() - start_excluded)
                seen = sampler.end(tid)
                if spent > watch.cpu_budget:
                    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
                    where = f" at {seen}" if seen else _where(owner)
                    watch.blocks.append(f"{spent * 1e3:.1f} ms of CPU in one callback on the event loop{where}")

        asyncio.events.Handle._run = timed_run  # type: ignore[assignment]  # patched while watched, put back on exit
        event.listen(Engine, "before_cursor_execute", self._sql_on_loop)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        event.remove(Engine, "before_cursor_execute", self._sql_on_loop)
        if self._sampler is not None:
            self._sampler.close()
            gc.callbacks.remove(self._excluded)
        if self._original_run is not None:
            asyncio.events.Handle._run = self._original_run  # type: ignore[assignment]  # the method saved on entry

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Not watched in this block: test code that a test double runs on the app's loop (a mock
        transport's handler peeking at the database), which is not the app's doing."""
        self._paused.on = True
        start = time.thread_time()
        try:
            yield
        finally:
            self._excluded.add(time.thread_time() - start)
            self._paused.on = False

    def _sql_on_loop(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a worker thread (or plain sync code): where database calls belong
        if self.watched() and not getattr(self._paused, "on", False):
            sql = " ".join(statement.split())[:80]
            self.blocks.append(f"SQL on the event loop ({sql}){_where(asyncio.current_task())}")

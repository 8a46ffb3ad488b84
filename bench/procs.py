"""Processes the bench starts beside the suite, and what they cost: CPU seconds of each, read from its CPU clock.

CPU per request (the process's CPU time over the timed window, divided by the requests completed) is the
headline figure: unlike requests per second it does not depend on what else the shared machine is doing,
nor on which core each process got (with three or more busy processes on two cores no pinning can give
each its own). Linux only; elsewhere the figures are missing, not wrong.

A process's CPU time is read from its CPU clock (`clock_gettime` with the clock id `clock_getcpuclockid(3)`
gives for that pid), in nanoseconds, all its threads, the slice it is running included — not from
utime + stime in `/proc/<pid>/stat`, which count in clock ticks (10 ms): a process that used 0.1 s in a
half-second window was then read to about ±5 % per window, more than the differences the bench is after
(docs/performance.md). Where the clock cannot be read, the ticks remain.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from devstack.suite import ACCESS_LOG_DEFAULT, uvicorn_cmd

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

#: Every process the bench starts runs with tracing off (docs/observability.md: no middleware, no patched
#: client, no exporter), as the floors have none: a part's row is its own work, not its spans'. Without it a
#: suite started outside pytest traces every request and exports to the default OTLP endpoint, which nobody
#: listens on in a bench (several times the gateway's CPU per request, measured: docs/performance.md).
TRACING_OFF = {"OTEL_SDK_DISABLED": "true"}


def _cpu_clock(pid: int) -> int:
    """The id of `pid`'s CPU clock, as glibc's clock_getcpuclockid(3) makes it: the kernel's
    MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED), the scheduler's exact run time of the whole process."""
    return ((~pid) << 3) | 2


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds of one process (all its threads, those that ended included); None if it cannot tell."""
    try:
        return time.clock_gettime(_cpu_clock(pid))
    except (OSError, OverflowError, AttributeError):
        pass  # not Linux, or the process is gone: its ticks, if /proc still has them
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


def children(pid: int) -> list[int]:
    """Direct children of `pid` (an Envoy sidecar runs under devstack's lifeline wrapper)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with suppress(OSError, ValueError):
            found += [int(c) for c in task.read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of `pid` and all its descendants."""
    own = cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(c for child in children(pid) if (c := tree_cpu_seconds(child)) is not None)


def where(pid: int) -> str:
    """Where a process may run and where it last ran: `cpus 0-1, last on 1`."""
    try:
        allowed = sorted(os.sched_getaffinity(pid))
        last = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[36]
    except (OSError, IndexError, AttributeError):
        return "unknown"
    span = f"{allowed[0]}-{allowed[-1]}" if allowed == list(range(allowed[0], allowed[-1] + 1)) else str(allowed)
    return f"cpus {span}, last on {last}"


def sample(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds of each process, its descendants included (a sidecar's Envoy under its wrapper)."""
    return {name: s for name, pid in pids.items() if (s := tree_cpu_seconds(pid)) is not None}


def used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two `sample`s."""
    return {name: end - before[name] for name, end in after.items() if name in before}


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"a bench process exited at start-up: {proc.args!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {timeout:.0f} s")


@contextmanager
def uvicorn_process(app: str, port: int, env: Mapping[str, str] | None = None) -> Iterator[int]:
    """`app` under devstack's own uvicorn command (uvloop, httptools), on loopback; its pid, stopped at the end."""
    proc = subprocess.Popen(
        uvicorn_cmd(app, port),
        env={**ACCESS_LOG_DEFAULT, **os.environ, **TRACING_OFF, **(env or {})},  # as devstack runs the suite
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parent.parent,  # `bench` importable in the child
    )
    try:
        wait_port(port, proc)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

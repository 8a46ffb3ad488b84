"""Processes the bench starts beside the suite, and what they cost: CPU seconds from /proc/<pid>/stat.

CPU per request (utime + stime over the timed window, divided by the requests completed) is the headline
figure: unlike requests per second it does not depend on what else the shared machine is doing, nor on
which core each process got (with three or more busy processes on two cores no pinning can give each its
own). Linux only; elsewhere the figures are missing, not wrong.

A window's CPU comes from each thread's run time in nanoseconds (`/proc/<pid>/task/<tid>/schedstat`), not
from utime + stime in `/proc/<pid>/stat`: those count in clock ticks (10 ms), and a process that used 0.2 s
in a half-second window was then read to ±5 % per window — more than the differences the bench is after
(docs/performance.md). Where schedstat reads nothing (a kernel without CONFIG_SCHED_INFO) the ticks remain.
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


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), in seconds; None if /proc cannot tell."""
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


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """Each live thread's run time in ns (the first field of its schedstat); {} if /proc cannot tell."""
    found = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with suppress(OSError, ValueError, IndexError):
            found[int(stat.parent.name)] = int(stat.read_text().split()[0])
    return found


def tree_threads(pid: int) -> dict[int, int]:
    """`thread_cpu_ns` of `pid` and all its descendants (thread ids are unique across processes)."""
    found = thread_cpu_ns(pid)
    for child in children(pid):
        found.update(tree_threads(child))
    return found


#: What `sample` takes: per watched process, its tree's threads' run time in ns, or (no schedstat) its
#: tree's utime + stime in seconds.
Sample = dict[str, dict[int, int] | float]


def sample(pids: Mapping[str, int]) -> Sample:
    """A reading of each process's CPU, its descendants included (a sidecar's Envoy under its wrapper), for
    `used`."""
    taken: Sample = {}
    for name, pid in pids.items():
        threads = tree_threads(pid)
        if threads and any(threads.values()):
            taken[name] = threads
        elif (seconds := tree_cpu_seconds(pid)) is not None:
            taken[name] = seconds
    return taken


def used(before: Sample, after: Sample) -> dict[str, float]:
    """CPU seconds each process used between two readings. By thread: a thread that started in between
    counts whole; one that ended in between loses what it used in the window (the bench's processes keep
    their busy threads)."""
    out = {}
    for name, end in after.items():
        start = before.get(name)
        if isinstance(end, dict) and isinstance(start, dict):
            out[name] = sum(ns - start.get(tid, 0) for tid, ns in end.items()) / 1e9
        elif isinstance(end, float) and isinstance(start, float):
            out[name] = end - start
    return out


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

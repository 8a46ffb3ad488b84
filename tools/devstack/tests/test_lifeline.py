"""devstack/lifeline.py: a child stops when the pipe from its parent closes, and a wrapper never leaves its
program behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from devstack.lifeline import GRACE_SECONDS, guarded


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stdin is not None
        proc.stdin.close()


def _start(started: list[subprocess.Popen[bytes]], cmd: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(guarded(cmd, **kwargs), stdin=subprocess.PIPE, start_new_session=True)  # type: ignore[arg-type]
    started.append(proc)
    return proc


def _gone(pid: int) -> bool:
    stat = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return stat == "" or stat.startswith("Z")


def _program_of(wrapper: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
        children = [int(pid) for pid, ppid in (row.split() for row in out.splitlines()) if int(ppid) == wrapper.pid]
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the wrapper started no program")


def test_python_module_runs_in_process_and_stops_when_the_pipe_closes(started: list[subprocess.Popen[bytes]]) -> None:
    cmd = [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"]
    assert guarded(cmd)[3] == "module"
    child = _start(started, cmd)
    time.sleep(0.5)
    assert child.poll() is None
    assert child.stdin is not None
    child.stdin.close()  # what the kernel does when the parent dies, however it dies
    assert child.wait(timeout=GRACE_SECONDS + 2) is not None


def test_program_is_stopped_when_the_pipe_closes(started: list[subprocess.Popen[bytes]]) -> None:
    wrapper = _start(started, ["sleep", "60"])
    program = _program_of(wrapper)
    assert wrapper.stdin is not None
    wrapper.stdin.close()
    wrapper.wait(timeout=GRACE_SECONDS + 2)
    assert _gone(program)


def test_sigterm_to_the_wrapper_passes_the_stop_signal(started: list[subprocess.Popen[bytes]]) -> None:
    wrapper = _start(started, ["sleep", "60"], stop_signal=signal.SIGINT)
    _program_of(wrapper)
    wrapper.terminate()
    # The wrapper exits with its program's status, as a shell reports it: killed by the SIGINT it was given.
    assert wrapper.wait(timeout=GRACE_SECONDS + 2) == 128 + signal.SIGINT


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG exists on Linux only")
def test_sigkill_of_the_wrapper_alone_takes_the_program(started: list[subprocess.Popen[bytes]]) -> None:
    wrapper = _start(started, ["sleep", "60"])
    program = _program_of(wrapper)
    wrapper.kill()
    wrapper.wait()
    deadline = time.monotonic() + 2
    while not _gone(program) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(program)

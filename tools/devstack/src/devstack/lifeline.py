"""A lifeline for every process devstack starts: it stops when devstack is gone, however devstack ended.

devstack hands each child the read end of a pipe as its stdin and keeps the write end, never writing to
it. When devstack exits — Ctrl-C, SIGTERM, or SIGKILL of it or of its whole process group, as Tilt sends
(docs/tilt.md) — the kernel closes the write end and the child reads end-of-file. That works on Linux and
macOS alike, where `PR_SET_PDEATHSIG` is Linux-only.

Two ways to run under it (`Suite` builds the command lines, see `guarded`):

    python -m devstack.lifeline module uvicorn todos.app:create_app --factory ...
        A Python program, in this same process: a watcher thread reads stdin and, at end-of-file, sends
        the process SIGTERM (uvicorn shuts down gracefully), then exits hard if it has not after a grace.

    python -m devstack.lifeline exec --stop-signal INT -- envoy -c todos-inbound.yaml ...
        Any other program (Envoy, PostgreSQL), which reads no pipe: this process is its parent, holds the
        pipe, and stops it at end-of-file or on SIGTERM/SIGINT/SIGHUP, escalating to SIGKILL after a grace.
        The program stays in this process's group, so SIGKILL of the group takes both; on Linux the program
        also gets SIGKILL if this process is SIGKILLed alone (`PR_SET_PDEATHSIG`).

Only the standard library is imported here: this module runs before every service's own imports.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable

#: How long a child may take to stop after its lifeline is cut before it is killed.
GRACE_SECONDS = 5.0


def guarded(cmd: list[str], *, stop_signal: signal.Signals = signal.SIGTERM, user: str | None = None) -> list[str]:
    """The command line that runs `cmd` on a lifeline: in-process for `python -m MODULE`, else as a parent
    (which starts `cmd` as `user`, if given)."""
    here = [sys.executable, "-m", "devstack.lifeline"]
    if len(cmd) > 2 and cmd[0] == sys.executable and cmd[1] == "-m" and user is None:
        return [*here, "module", *cmd[2:]]
    as_user = ["--user", user] if user else []
    return [*here, "exec", "--stop-signal", stop_signal.name.removeprefix("SIG"), *as_user, "--", *cmd]


def _wait_for_eof(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass  # nobody writes; anything read is ignored
    except OSError:
        pass  # a closed or broken stdin means the same: the parent is gone


def watch_stdin(on_eof: Callable[[], None]) -> None:
    """Call `on_eof` (from a daemon thread) once stdin reaches end-of-file — if stdin is a pipe at all: run by
    hand from a terminal, or with stdin from /dev/null, there is no lifeline to watch."""
    if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        return

    def run() -> None:
        _wait_for_eof(sys.stdin.fileno())
        on_eof()

    threading.Thread(target=run, name="devstack-lifeline", daemon=True).start()


def run_module(argv: list[str]) -> None:
    """Run `python -m argv[0] argv[1:]` in this process, with the watcher thread started first."""
    import runpy

    def stop() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACE_SECONDS)
        os._exit(1)

    watch_stdin(stop)
    sys.argv = list(argv)
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: a pre-exec hook giving the child SIGKILL when this process dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return hook


def run_exec(cmd: list[str], stop_signal: signal.Signals, user: str | None = None) -> int:
    """Run `cmd` as a child, stop it when stdin closes or this process is asked to stop; its exit code."""
    # Signals first, so that a stop asked for during start-up is not lost.
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.set())
    # preexec_fn is safe here: this process has no other thread yet.
    # (The credentials change before the hook runs, so the death signal survives it.)
    child = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent(), user=user, group=_group_of(user)
    )
    watch_stdin(stopping.set)
    while child.poll() is None and not stopping.wait(0.2):
        pass
    if child.poll() is None:
        child.send_signal(stop_signal)
        try:
            child.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    code = child.wait()
    return 128 - code if code < 0 else code  # as a shell reports a program killed by a signal


def _group_of(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "module":
        run_module(argv[1:])
        return 0
    import argparse

    parser = argparse.ArgumentParser(prog="devstack.lifeline", description=__doc__)
    parser.add_argument("how", choices=["exec"])
    parser.add_argument("--stop-signal", default="TERM")
    parser.add_argument("--user")
    parser.add_argument("cmd", nargs="+")
    args = parser.parse_args(argv)
    return run_exec(args.cmd, signal.Signals["SIG" + args.stop_signal], args.user)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`uv run … devstack up` as a user (or Tilt) runs it: its own process group, on ports of its own.

Tilt stops a `serve_cmd` by signalling its process group (SIGTERM, or SIGINT) and sends SIGKILL to the
whole group as soon as the command's main process exits (tilt-dev/tilt `internal/controllers/core/cmd/
execer.go`, `pkg/procutil`). `DevstackRun` reproduces that without Tilt and tells which processes it
started are still alive and which of its ports are still taken.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from devstack.ports import free_ports, is_free

PROCESSES = ["identity", "mailsink", "traces", "todos", "reminders", "shares", "gateway", "web"]
BANNER = "todo-suite is up"


def descendants(root: int) -> set[int]:
    """Every process below `root` now (`ps` works on Linux and macOS alike)."""
    rows = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for row in rows.splitlines():
        pid, ppid = (int(x) for x in row.split())
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` that still run (a zombie waiting for its parent to reap it does not count)."""
    if not pids:
        return set()
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-p", ",".join(map(str, pids))], capture_output=True, text=True)
    return {int(pid) for pid, stat in (row.split() for row in out.stdout.splitlines()) if not stat.startswith("Z")}


class DevstackRun:
    """One `uv run --no-sync devstack up` on free ports, with a run directory of its own."""

    def __init__(
        self, run_dir: Path, *, mesh: bool = False, ports: dict[str, int] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.run_dir = run_dir
        self.mesh = mesh
        self.args = args
        self.ports = ports or dict(zip(PROCESSES, free_ports(len(PROCESSES)), strict=True))
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.started: set[int] = set()

    @property
    def all_ports(self) -> list[int]:
        # With the mesh, only the public gateway and identity listeners are TCP (the rest are Unix sockets).
        return list(self.ports.values())

    def start(self, timeout: float = 90.0) -> None:
        uv = shutil.which("uv")
        assert uv, "uv is not on PATH (make install puts it there)"
        cmd = [uv, "run", "--no-sync", "devstack", "up", "--run-dir", str(self.run_dir)]
        cmd += [arg for name, port in self.ports.items() for arg in ("--port", f"{name}={port}")]
        if self.mesh:
            cmd += ["--mesh"]
        cmd += self.args
        # A process group of its own, as Tilt gives a serve_cmd.
        env = {**os.environ, "NO_COLOR": "1", "MODE": "", "MESH": "", "DB": ""}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
        )
        up = threading.Event()
        threading.Thread(target=self._read, args=(up,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not up.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                said = [line for line in self.output if not line.startswith(" ") and "|" not in line]
                raise AssertionError("devstack did not come up:\n" + "\n".join(said[-20:] + self.output[-20:]))
        self.started = descendants(self.proc.pid)

    def _read(self, up: threading.Event) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.output.append(line.rstrip())
                if line.startswith(BANNER):
                    up.set()

    def devstack_pid(self) -> int:
        """The devstack Python process itself (below `uv run`)."""
        assert self.proc is not None
        # `-ww`: without it ps cuts `args` at $COLUMNS (CI sets it), and a long clone path pushes "devstack" out.
        rows = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
        for row in rows.splitlines():
            pid, ppid, args = row.split(None, 2)
            if int(ppid) == self.proc.pid and "devstack" in args:
                return int(pid)
        raise AssertionError("no devstack process below uv")

    def stop_like_tilt(self, first: signal.Signals, moment: float = 0.5) -> None:
        """`first` to the group; SIGKILL to the group when the main process exits or `moment` has passed."""
        assert self.proc is not None
        os.killpg(self.proc.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=moment)
        with contextlib.suppress(ProcessLookupError):  # the whole group may have left already
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def kill_devstack_alone(self) -> None:
        """SIGKILL to the devstack process only: no handler runs, nothing is stopped in order."""
        assert self.proc is not None
        os.kill(self.devstack_pid(), signal.SIGKILL)
        self.proc.wait(timeout=10)

    def leftovers(self, within: float) -> tuple[set[int], list[int]]:
        """(processes still alive, ports still taken) after waiting up to `within` seconds for both to clear."""
        deadline = time.monotonic() + within
        while True:
            procs = alive(self.started)
            ports = [p for p in self.all_ports if not is_free(p)]
            if (not procs and not ports) or time.monotonic() > deadline:
                return procs, ports
            time.sleep(0.1)

    def cleanup(self) -> None:
        """Whatever a failed test left: killed, so that it cannot disturb the next one."""
        for pid in alive(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

"""`make reset` against a real `devstack up`: it refuses while the suite runs from that run directory, and
once the suite has stopped (Ctrl-C) it leaves nothing of the run behind (devstack/reset.py)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.reset import PID_FILE
from tests.e2e.infra.devstack_run import DevstackRun


@pytest.fixture
def run(tmp_path: Path) -> Iterator[DevstackRun]:
    started = DevstackRun(tmp_path / "run")
    yield started
    started.cleanup()


def reset(run_dir: Path) -> subprocess.CompletedProcess[str]:
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH (make install puts it there)"
    cmd = [uv, "run", "--no-sync", "devstack", "reset", "--run-dir", str(run_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_reset_refuses_while_the_suite_runs_and_cleans_up_after_it(run: DevstackRun) -> None:
    run.start()
    assert (run.run_dir / PID_FILE).read_text().strip() == str(run.devstack_pid())
    refused = reset(run.run_dir)
    assert refused.returncode == 1, refused
    assert "a suite is running from" in refused.stderr
    assert (run.run_dir / "todos.db").exists()
    assert (run.run_dir / "dev-secrets.env").exists()

    run.stop_like_tilt(signal.SIGINT, moment=10)  # Ctrl-C: devstack stops everything in order, then exits
    assert not (run.run_dir / PID_FILE).exists()
    done = reset(run.run_dir)
    assert done.returncode == 0, done
    assert list(run.run_dir.iterdir()) == []

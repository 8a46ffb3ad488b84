"""`make reset` (devstack/reset.py): the run state goes, `k8s-tls/` stays, and nothing is deleted while a
suite runs from that directory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import reset


def _run_state(run_dir: Path) -> None:
    """What `make up` (and `make up MESH=1`, DB=postgres) leaves behind."""
    for name in ("todos.db", "todos.db-wal", "identity.db", "web.db", "dev-secrets.env"):
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_text("x")
    for sub in (
        "logs/todos.log",
        "mail/new/1",
        "mesh/pki/ca.pem",
        "mesh/envoy/todos-inbound.yaml",
        "postgres/PG_VERSION",
    ):
        (run_dir / sub).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / sub).write_text("x")
    (run_dir / "k8s-tls").mkdir()
    (run_dir / "k8s-tls" / "ca.crt").write_text("cluster")


@pytest.fixture
def devstack_like() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line names devstack, as `uv run devstack up` does."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "devstack", "up"])
    yield proc
    proc.kill()
    proc.wait()


def test_reset_deletes_the_run_state_and_keeps_the_cluster_tls(tmp_path: Path) -> None:
    _run_state(tmp_path)
    code, lines = reset.reset(tmp_path)
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k8s-tls"]
    assert (tmp_path / "k8s-tls" / "ca.crt").read_text() == "cluster"
    assert "deleted from" in lines[0]
    assert "mesh/" in lines[0]
    assert "todos.db" in lines[0]
    assert lines[1] == "kept: k8s-tls"


def test_reset_refuses_while_a_suite_runs_there(tmp_path: Path, devstack_like: subprocess.Popen[bytes]) -> None:
    _run_state(tmp_path)
    (tmp_path / reset.PID_FILE).write_text(f"{devstack_like.pid}\n")
    code, lines = reset.reset(tmp_path)
    assert code == 1
    assert f"a suite is running from {tmp_path}/ (devstack pid {devstack_like.pid})" in lines[0]
    assert "Nothing was deleted" in lines[1]
    assert (tmp_path / "todos.db").exists()
    assert (tmp_path / "mesh" / "pki" / "ca.pem").exists()


def test_a_stale_pid_file_does_not_block_a_reset(tmp_path: Path) -> None:
    _run_state(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names no process now
    (tmp_path / reset.PID_FILE).write_text(f"{gone.pid}\n")
    assert reset.reset(tmp_path)[0] == 0
    assert not (tmp_path / reset.PID_FILE).exists()
    assert not (tmp_path / "todos.db").exists()


def test_a_reused_pid_of_another_program_does_not_block_a_reset(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / reset.PID_FILE).write_text(f"{other.pid}\n")
        assert reset.running_pid(tmp_path) is None
    finally:
        other.kill()
        other.wait()


def test_nothing_to_reset(tmp_path: Path) -> None:
    assert reset.reset(tmp_path / "absent") == (0, [f"{tmp_path / 'absent'}/ does not exist: nothing to reset"])
    assert reset.reset(tmp_path)[0] == 0


def test_the_command_line_prints_the_refusal_on_stderr(
    tmp_path: Path, devstack_like: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / reset.PID_FILE).write_text(str(devstack_like.pid))
    assert reset.main(["--run-dir", str(tmp_path)]) == 1
    assert "a suite is running" in capsys.readouterr().err

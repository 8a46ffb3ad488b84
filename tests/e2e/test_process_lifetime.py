"""Nothing `devstack up` starts outlives it, however it ends — what `tilt up -- --local` needs to restart it.

Each test runs `uv run --no-sync devstack up` on ports and a run directory of its own, ends it the way
Tilt or a crash would, and asserts that within a few seconds no process it started is alive and every
port it listened on is free (docs/tilt.md, "Process lifetime").
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_ports
from tests.e2e.infra.devstack_run import DevstackRun

#: How long the processes and ports of a stopped suite may take to clear.
CLEAR_WITHIN_SECONDS = 5.0


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[DevstackRun]]:
    started: list[DevstackRun] = []
    yield started
    for run in started:
        run.cleanup()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A run directory with a short path: the mesh's Unix sockets live in it, and a socket path may not
    exceed 107 bytes (unix(7)); pytest's tmp_path, named after the test, can be longer than that allows."""
    path = Path(tempfile.mkdtemp(prefix="lt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start(runs: list[DevstackRun], run_dir: Path, **kwargs: object) -> DevstackRun:
    run = DevstackRun(run_dir, **kwargs)  # type: ignore[arg-type]
    runs.append(run)
    run.start()
    return run


def _assert_nothing_left(run: DevstackRun) -> None:
    procs, ports = run.leftovers(within=CLEAR_WITHIN_SECONDS)
    assert not procs, f"still alive {CLEAR_WITHIN_SECONDS}s after the stop: {sorted(procs)}"
    assert not ports, f"still taken {CLEAR_WITHIN_SECONDS}s after the stop: {ports}"


@pytest.mark.parametrize("mesh", [False, True], ids=["plain", "mesh"])
@pytest.mark.parametrize("first", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_tilt_stop_leaves_nothing(runs: list[DevstackRun], short_tmp: Path, mesh: bool, first: signal.Signals) -> None:
    """The group gets `first`, then SIGKILL a moment later (or as soon as its main process exits)."""
    run = _start(runs, short_tmp / "run", mesh=mesh)
    # devstack and its six; with the mesh also each Envoy sidecar and the wrapper holding its lifeline.
    assert len(run.started) >= (20 if mesh else 7)
    run.stop_like_tilt(first)
    _assert_nothing_left(run)


@pytest.mark.parametrize("mesh", [False, True], ids=["plain", "mesh"])
def test_sigkill_of_devstack_alone_leaves_nothing(runs: list[DevstackRun], short_tmp: Path, mesh: bool) -> None:
    """No signal handler of devstack runs: the children notice their lifeline close and stop by themselves."""
    run = _start(runs, short_tmp / "run", mesh=mesh)
    run.kill_devstack_alone()
    _assert_nothing_left(run)


def test_private_postgres_goes_with_devstack(runs: list[DevstackRun], tmp_path: Path) -> None:
    """`make up DB=postgres` where no server answers: devstack's own PostgreSQL is on a lifeline too."""
    # A port where nothing listens, so that devstack starts a private server (its postmaster and backends).
    nowhere = f"postgresql://postgres@127.0.0.1:{free_ports(1)[0]}/postgres"
    # Not under pytest's tmp_path: as root the server runs as `postgres`, which must reach its data directory.
    run_dir = Path(tempfile.mkdtemp(prefix="todo-suite-life-"))
    run_dir.chmod(0o755)
    run = _start(runs, run_dir, args=("--db", "postgres", "--pg-url", nowhere))
    try:
        assert any("a private PostgreSQL" in line for line in run.output)
        assert len(run.started) >= 7 + 3  # its wrapper, the postmaster and at least one backend besides the suite
        run.kill_devstack_alone()
        _assert_nothing_left(run)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_restart_on_the_same_ports(runs: list[DevstackRun], tmp_path: Path) -> None:
    """What Tilt does after a source change: stop the old suite, start the new one at once, same ports."""
    first = _start(runs, tmp_path / "first")
    first.stop_like_tilt(signal.SIGTERM)
    second = _start(runs, tmp_path / "second", ports=first.ports)
    assert not (second.started & first.started)
    response = httpx.get(f"http://127.0.0.1:{first.ports['gateway']}/readyz", timeout=5)
    assert response.status_code == 200
    second.stop_like_tilt(signal.SIGINT)
    _assert_nothing_left(second)

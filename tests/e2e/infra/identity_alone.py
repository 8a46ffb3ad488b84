"""identity alone, as the real process `make up` starts (devstack's command and environment), on a free port.

For tests and benchmarks that hammer identity and must not leave a shared suite throttled or loaded:
the login-throttle test and `bench.identity_flood`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.ports import free_ports
from devstack.suite import SuiteConfig, generate_secrets, service_specs


@dataclass(frozen=True)
class IdentityProcess:
    url: str
    pid: int
    secrets: dict[str, str]
    log: Path


@contextmanager
def identity_alone(
    run_dir: Path, env: dict[str, str] | None = None, *, timeout: float = 30.0
) -> Iterator[IdentityProcess]:
    """Start identity with devstack's settings plus `env`; stop it (SIGTERM, then SIGKILL) on exit."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = SuiteConfig(run_dir=run_dir)
    config.ports["identity"] = free_ports(1)[0]
    secrets = generate_secrets()
    spec = next(s for s in service_specs(config, secrets) if s.name == "identity")
    log = run_dir / "identity.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            spec.cmd,
            env={**os.environ, **spec.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = config.url("identity")
        _wait_healthy(proc, f"{url}/healthz", log, timeout)
        yield IdentityProcess(url=url, pid=proc.pid, secrets=secrets, log=log)
    finally:
        _stop(proc)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"identity exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"identity did not answer {url} within {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

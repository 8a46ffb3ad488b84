"""What `make up MESH=1` starts and how it wires the apps, read from the process specs (no process runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.mesh import APPS, LocalMesh
from devstack.suite import MODES, START_WAVES, SuiteConfig, generate_secrets, service_specs

REPO = Path(__file__).parents[3]


@pytest.fixture
def mesh(tmp_path: Path) -> LocalMesh:
    return LocalMesh.generate(tmp_path, {"gateway": 8080, "identity": 9000}, policy_file=REPO / "mesh" / "policy.yaml")


def _specs(tmp_path: Path, mesh: LocalMesh, mode: str) -> dict:
    config = SuiteConfig(run_dir=tmp_path, mode=mode, mesh=True)
    return {spec.name: spec for spec in service_specs(config, generate_secrets(), mesh=mesh)}


@pytest.mark.parametrize("mode", MODES)
def test_every_app_on_its_socket_behind_its_sidecars(tmp_path: Path, mesh: LocalMesh, mode: str) -> None:
    specs = _specs(tmp_path, mesh, mode)
    for app in APPS:
        cmd = specs[app].cmd
        # devstack.uds_app: the app's socket bound with mode 0600 (uvicorn's own --uds would make it 0666).
        assert cmd[1:] == ["-m", "devstack.uds_app", f"{app}.app:create_app", str(mesh.socket(app))]
        assert specs[app].uds == mesh.socket(app)
        assert specs[app].health_socket == mesh.layout.probe[app]  # readiness through the sidecar
        assert specs[app].env["AUTHZ_MESH"] == "true"
        assert "AUTHZ_INSECURE_DEMO" not in specs[app].env
        assert f"{app}-inbound" in specs
    # The order: the trace receiver (every process exports to it), then each app's sidecars before the app,
    # identity first.
    names = list(specs)
    assert names[:2] == ["traces", "identity-inbound"]
    for app in APPS:
        assert names.index(f"{app}-inbound") < names.index(app)
    # todos calls only identity and the gateway's JWKS; every other workload calls something too.
    assert {n for n in specs if n.endswith("-outbound")} == {f"{w}-outbound" for w in APPS}
    # An Envoy is ready when its admin interface, a socket too, says so.
    for name, spec in specs.items():
        if name.endswith(("-inbound", "-outbound")):
            assert (spec.health_socket, spec.health_path) == (mesh.layout.admin[name], "/ready")


@pytest.mark.parametrize("mode", MODES)
def test_every_call_between_apps_leaves_through_the_callers_sidecar(tmp_path: Path, mesh: LocalMesh, mode: str) -> None:
    specs = _specs(tmp_path, mesh, mode)
    for app in ("todos", "reminders", "shares", "gateway"):
        env = specs[app].env
        assert env["AUTHZ_ISSUER"] == "http://127.0.0.1:9000"  # the `iss` in tokens stays public
        assert env["AUTHZ_JWKS_URL"] == "http://identity/jwks"
        assert env["AUTHZ_TOKEN_URL"] == "http://identity/token"
    assert specs["reminders"].env["REMINDERS_TODOS_URL"] == "http://todos"
    assert specs["shares"].env["SHARES_TODOS_URL"] == "http://todos"
    upstreams = json.loads(specs["gateway"].env["GATEWAY_UPSTREAMS"])
    assert upstreams == {svc: f"http://{svc}" for svc in ("todos", "shares", "reminders")}
    # Each host a URL names is sent to the caller's own outbound socket for it, and only those hosts.
    for app in APPS:
        sockets = json.loads(specs[app].env["AUTHZ_UNIX_SOCKETS"])
        assert sockets == {d: str(mesh.layout.outbound[(app, d)]) for d in mesh.policy.destinations_of(app)}
        assert all(Path(p).name == f"{app}-to-{d}.sock" for d, p in sockets.items())
    if mode == "reissue":
        for app in ("todos", "reminders", "shares"):
            assert specs[app].env["AUTHZ_GATEWAY_JWKS_URL"] == "http://gateway/.well-known/jwks.json"
        trusted = json.loads(specs["identity"].env["IDENTITY_TRUSTED_SUBJECT_ISSUERS"])
        assert trusted == {"http://127.0.0.1:8080": "http://gateway/.well-known/jwks.json"}


def test_a_url_names_only_a_destination_the_policy_allows(mesh: LocalMesh) -> None:
    assert mesh.out("shares", "todos", "/todos") == "http://todos/todos"
    with pytest.raises(KeyError, match="todos call"):
        mesh.out("todos", "shares")


def test_without_the_mesh_trust_is_the_insecure_demo(tmp_path: Path) -> None:
    specs = {s.name: s for s in service_specs(SuiteConfig(run_dir=tmp_path, mode="trust"), generate_secrets())}
    assert specs["todos"].env["AUTHZ_INSECURE_DEMO"] == "true"
    assert "AUTHZ_MESH" not in specs["todos"].env
    assert specs["todos"].cmd[specs["todos"].cmd.index("--port") + 1] == "8001"


@pytest.mark.parametrize("with_mesh", [False, True])
def test_every_process_starts_in_exactly_one_wave(tmp_path: Path, mesh: LocalMesh, with_mesh: bool) -> None:
    config = SuiteConfig(run_dir=tmp_path, mesh=with_mesh)
    specs = service_specs(config, generate_secrets(), mesh=mesh if with_mesh else None)
    for spec in specs:
        waves = [wave for wave in START_WAVES if spec.name.split("-")[0] in wave]
        assert len(waves) == 1, spec.name
    # identity (everyone fetches its keys) in the first wave, after only the trace receiver (everyone exports
    # to it); todos before reminders (its first scan calls todos).
    order = [name for wave in START_WAVES for name in wave]
    assert order[:2] == ["traces", "identity"]
    assert "identity" in START_WAVES[0]
    assert order.index("todos") < order.index("reminders")

"""The edge over HTTPS (k8s/base/ingress.yaml, scripts/k8s-dev-tls) and the API server's OIDC walk-through
(k8s/cluster-oidc/, docs/kubernetes-oidc.md): rendered, validated where a schema exists, parsed and
cross-checked where none does (kind's Cluster, kubeadm's ClusterConfiguration)."""

from __future__ import annotations

import ast
import inspect
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from identity.realm import load_realm
from identity.settings import DEMO_REALM
from identity.tokens import TokenService
from tests.k8s import tools
from tests.k8s.conftest import Renders
from tests.k8s.manifests import of_kind

CLUSTER_OIDC = tools.REPO / "k8s" / "cluster-oidc"
SECRET = "todo-suite-dev-tls"
HOSTS = {"api.todo-suite.localhost": "gateway", "id.todo-suite.localhost": "identity"}


# --- the Ingress ---------------------------------------------------------------------------------------------


def test_every_overlay_has_the_edge_ingress_with_tls_in_front_of_gateway_and_identity(renders: Renders) -> None:
    for overlay, r in renders.by_overlay.items():
        # `edge` (k8s/base/ingress.yaml); the web UI has an Ingress of its own (k8s/base/web.yaml).
        ingress = of_kind(r.docs, "Ingress")["edge"]
        spec = ingress["spec"]
        assert spec["ingressClassName"] == ("istio" if r.mesh else "nginx"), overlay
        assert spec["tls"] == [{"hosts": sorted(HOSTS), "secretName": SECRET}], overlay
        services = of_kind(r.docs, "Service")
        routed = {}
        for rule in spec["rules"]:
            (path,) = rule["http"]["paths"]
            backend = path["backend"]["service"]
            routed[rule["host"]] = backend["name"]
            # The port the Ingress names exists on that Service.
            assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
        assert routed == HOSTS, overlay  # todos, reminders, shares: no route from outside


def test_no_certificate_or_private_key_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "k8s", "scripts"], cwd=tools.REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = tools.REPO / name
        assert not name.endswith((".key", ".crt", ".pem")), name
        if path.is_file():
            assert "PRIVATE KEY-----" not in path.read_text(errors="ignore"), name


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_the_dev_tls_script_makes_a_certificate_for_the_ingress_hosts(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    done = subprocess.run(
        [str(tools.REPO / "scripts" / "k8s-dev-tls"), "--files-only"],
        env={"PATH": "/usr/bin:/bin", "K8S_TLS_DIR": str(out)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    san = _openssl("x509", "-in", str(out / "tls.crt"), "-noout", "-ext", "subjectAltName")
    assert sorted(part.strip().removeprefix("DNS:") for part in san.splitlines()[1].split(",")) == sorted(HOSTS)
    assert _openssl("verify", "-CAfile", str(out / "ca.crt"), str(out / "tls.crt")).strip().endswith("OK")
    assert (out / "tls.key").stat().st_mode & 0o077 == 0  # the key is the user's alone
    # Run again: the files stay (the Secret and the trusted CA keep matching).
    before = (out / "tls.crt").read_bytes()
    subprocess.run([str(tools.REPO / "scripts" / "k8s-dev-tls"), "--files-only"], env={"PATH": "/usr/bin:/bin",
                   "K8S_TLS_DIR": str(out)}, capture_output=True, check=True)  # fmt: skip
    assert (out / "tls.crt").read_bytes() == before


# --- the API server trusting identity (kind) -----------------------------------------------------------------


def _kind() -> dict[str, Any]:
    return yaml.safe_load((CLUSTER_OIDC / "kind-config.yaml").read_text())


def _api_server_args() -> dict[str, str]:
    (node,) = [n for n in _kind()["nodes"] if n["role"] == "control-plane"]
    (patch,) = [yaml.safe_load(p) for p in node["kubeadmConfigPatches"]]
    assert patch["kind"] == "ClusterConfiguration"
    assert set(patch) == {"kind", "apiServer"}
    return patch["apiServer"]["extraArgs"]


#: kind's v1alpha4 fields we use, and kube-apiserver's OIDC flags (a misspelt key would be ignored by kind or
#: stop the API server). Ref: https://kind.sigs.k8s.io/docs/user/configuration/ ,
#: https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/
KIND_NODE_FIELDS = {"role", "image", "labels", "extraPortMappings", "extraMounts", "kubeadmConfigPatches"}
OIDC_FLAGS = {"oidc-issuer-url", "oidc-client-id", "oidc-username-claim", "oidc-username-prefix", "oidc-groups-claim",
              "oidc-groups-prefix", "oidc-signing-algs", "oidc-ca-file", "oidc-required-claim"}  # fmt: skip


def test_the_kind_config_is_a_v1alpha4_cluster_with_known_fields() -> None:
    config = _kind()
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert set(config) == {"kind", "apiVersion", "nodes"}
    for node in config["nodes"]:
        assert set(node) <= KIND_NODE_FIELDS, set(node) - KIND_NODE_FIELDS
    assert set(_api_server_args()) <= OIDC_FLAGS


def test_the_oidc_flags_point_at_identity_behind_the_ingress() -> None:
    args = _api_server_args()
    ingress = yaml.safe_load((tools.REPO / "k8s" / "base" / "ingress.yaml").read_text())
    identity_host = next(r["host"] for r in ingress["spec"]["rules"] if r["http"]["paths"][0]["backend"]["service"]
                         ["name"] == "identity")  # fmt: skip
    assert args["oidc-issuer-url"] == f"https://{identity_host}"  # the API server takes only https issuers
    assert identity_host in ingress["spec"]["tls"][0]["hosts"]
    client = load_realm(DEMO_REALM).clients[args["oidc-client-id"]]
    assert client.public
    assert "authorization_code" in client.grant_types
    # The CA file is one the node really has: mounted from where scripts/k8s-dev-tls writes it.
    (node,) = _kind()["nodes"]
    mounts = {m["containerPath"]: m["hostPath"] for m in node["extraMounts"]}
    assert mounts[args["oidc-ca-file"]] == ".run/k8s-tls/ca.crt"
    assert "DIR=${K8S_TLS_DIR:-.run/k8s-tls}" in (tools.REPO / "scripts" / "k8s-dev-tls").read_text()


def _id_token_claims() -> set[str]:
    """The claim names identity's ID tokens carry (the dict literal in `TokenService.id_token`)."""
    tree = ast.parse(inspect.getsource(TokenService.id_token).strip().replace("\n    ", "\n"))
    (claims,) = [n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "claims"]
    assert isinstance(claims.value, ast.Dict)
    return {k.value for k in claims.value.keys if isinstance(k, ast.Constant)}


def test_the_claims_the_api_server_reads_are_in_identitys_id_tokens() -> None:
    args = _api_server_args()
    claims = _id_token_claims()
    assert {"iss", "sub", "aud", "exp"} <= claims  # the walk found the real dict
    assert args["oidc-username-claim"] in claims
    assert args["oidc-groups-claim"] in claims


def test_rbac_binds_groups_that_identitys_roles_make() -> None:
    args = _api_server_args()
    roles = {role for user in load_realm(DEMO_REALM).users.values() for role in user.roles}
    bindings = [doc for doc in yaml.safe_load_all((CLUSTER_OIDC / "rbac.yaml").read_text()) if doc]
    assert bindings
    for binding in bindings:
        for subject in binding["subjects"]:
            assert subject["kind"] == "Group"  # by group, never by user
            assert subject["name"].removeprefix(args["oidc-groups-prefix"]) in roles, subject["name"]


def test_the_rbac_manifests_are_valid_against_the_kubernetes_schemas() -> None:
    try:
        result = tools.uv_tool(
            tools.KUBERNETES_VALIDATE, "kubernetes-validate", "--strict", "-k", tools.KUBERNETES_VERSION, "--quiet",
            str(CLUSTER_OIDC / "rbac.yaml"),
        )  # fmt: skip
    except tools.ToolUnavailable as e:
        pytest.skip(str(e))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

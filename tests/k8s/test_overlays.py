"""The 10 overlays (5 modes, each with and without the mesh) as `kubectl kustomize` renders them: valid against
the Kubernetes and Istio schemas, hardened, configured for their mode, and allowing on the network exactly
what mesh/policy.yaml allows."""

from __future__ import annotations

import json
import re
from itertools import product
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import authz
from authz import Mode
from devstack.suite import edge_clients
from gateway.modes import gateway_mode
from meshgen import istio, netpol
from meshgen.policy import INGRESS, Policy, load_policy
from tests.k8s import tools
from tests.k8s.conftest import Rendered, Renders
from tests.k8s.manifests import (
    NAMESPACE,
    PORTS,
    WITH_DATABASE,
    by_prefix,
    can_connect,
    config_data,
    container_env,
    containers,
    of_kind,
    pod_template,
    secret_data,
    workloads,
)

SERVICES = tuple(PORTS)
#: Istio's kinds in the mesh variants, and their API.
ISTIO_KINDS = {
    "PeerAuthentication": "security.istio.io/v1",
    "AuthorizationPolicy": "security.istio.io/v1",
    "RequestAuthentication": "security.istio.io/v1",
    "Sidecar": "networking.istio.io/v1",
}
JWT_MODES = ("passthrough", "phantom")
DEV_ONLY = "dev-only-change-me"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(tools.REPO / "mesh" / "policy.yaml")


def _deployment(r: Rendered, name: str) -> dict[str, Any]:
    return of_kind(r.docs, "Deployment")[name]


def _main_container(r: Rendered, name: str) -> dict[str, Any]:
    (container,) = [c for c in pod_template(_deployment(r, name))["spec"]["containers"] if c["name"] == name]
    return container


def _env(r: Rendered, name: str) -> dict[str, str]:
    return container_env(r.docs, _main_container(r, name))


# --- schemas ----------------------------------------------------------------------------------------------------


def test_every_overlay_is_valid_against_the_kubernetes_schemas(renders: Renders) -> None:
    """Strict: an unknown or misplaced field is an error, not silently dropped by the API server."""
    paths = [str(r.path) for r in renders.by_overlay.values()]
    try:
        result = tools.uv_tool(
            tools.KUBERNETES_VALIDATE,
            "kubernetes-validate",
            "--strict",
            "-k",
            tools.KUBERNETES_VERSION,
            "--quiet",
            *paths,
        )
    except tools.ToolUnavailable as e:
        pytest.skip(str(e))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    # It only warns about kinds it has no schema for: those must be Istio's (checked in the next test).
    unknown = set(re.findall(r"find schema for kind (\w+) with api version (\S+)", result.stdout + result.stderr))
    assert unknown == set(ISTIO_KINDS.items()), unknown


# Round-trips each object through cloudcoil's pydantic models of Istio's CRDs (generated from Istio's own
# schemas). The models ignore unknown fields rather than reject them, so the script returns what they kept,
# and the test demands that equal the input: a misspelt or misplaced field (which Istio's CRD would prune
# silently, e.g. `jwksURI` leaving a rule with no keys) shows up as a difference.
ISTIO_ROUND_TRIP = """
import json, sys
from cloudcoil.models.istio.networking import v1 as networking
from cloudcoil.models.istio.security import v1 as security
apis = {"security.istio.io/v1": security, "networking.istio.io/v1": networking}
out = []
for doc in json.load(sys.stdin):
    obj = getattr(apis[doc["apiVersion"]], doc["kind"]).model_validate(doc)
    out.append(obj.model_dump(mode="json", by_alias=True, exclude_unset=True))
print(json.dumps(out))
"""


def test_the_istio_objects_are_valid_against_istios_schemas(renders: Renders) -> None:
    docs = {
        json.dumps(doc, sort_keys=True): doc
        for r in renders.by_overlay.values()
        for doc in r.docs
        if doc["apiVersion"].split("/")[0].endswith(".istio.io")
    }
    assert docs, "no Istio object in any overlay"
    assert {doc["kind"] for doc in docs.values()} == set(ISTIO_KINDS)
    try:
        result = tools.uv_tool(
            tools.ISTIO_MODELS, "python", "-c", ISTIO_ROUND_TRIP, stdin=json.dumps(list(docs.values()))
        )
    except tools.ToolUnavailable as e:
        pytest.skip(str(e))
    assert result.returncode == 0, result.stderr[-5000:]
    for original, kept in zip(docs.values(), json.loads(result.stdout), strict=True):
        assert kept == original, f"fields Istio's schema does not have: {original['kind']} {original['metadata']}"


# --- every object ---------------------------------------------------------------------------------------------


def test_everything_is_in_the_namespace(rendered: Rendered) -> None:
    for doc in rendered.docs:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, (doc["kind"], doc["metadata"]["name"])


def test_workloads_are_hardened(rendered: Rendered) -> None:
    """Pod Security `restricted` and more: read-only root, no privilege escalation, no capabilities, seccomp,
    non-root, requests and limits, a writable emptyDir only at /tmp (and where a process must write)."""
    found = workloads(rendered.docs)
    assert {w["metadata"]["name"] for w in found} == {*SERVICES, "postgres", "mailsink", "reminders-scan"}
    for workload in found:
        name = f"{workload['kind']} {workload['metadata']['name']}"
        spec = pod_template(workload)["spec"]
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        expected_uid = 999 if workload["metadata"]["name"] == "postgres" else 10001
        assert pod_security["runAsUser"] == expected_uid, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec.get("serviceAccountName") not in (None, "default"), name
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host_namespace), name
        empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(spec):
            where = f"{name} container {container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert "privileged" not in security, where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) >= {"cpu", "memory"}, f"{where}: {bound}"
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in empty_dirs, f"{where}: no emptyDir at /tmp"  # noqa: S108 - a mount path


def test_images_are_pinned_by_tag(rendered: Rendered) -> None:
    for workload in workloads(rendered.docs):
        for container in containers(pod_template(workload)["spec"]):
            image = container["image"]
            assert "@" not in image, f"{image}: a digest we could not have looked up"
            repository, _, tag = image.rpartition(":")
            assert repository, f"{image}: no tag"
            assert "/" not in tag, f"{image}: no tag"
            assert tag != "latest", image
            assert container["imagePullPolicy"] == "IfNotPresent", image


# --- the services ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_deployment_service_and_identity(renders: Renders, service: str) -> None:
    for r in renders.by_overlay.values():
        deployment = _deployment(r, service)
        assert deployment["metadata"]["labels"]["app"] == service  # the mesh component selects on these
        template = pod_template(deployment)
        assert {"app": service, "version": "v1"}.items() <= template["metadata"]["labels"].items()
        assert template["spec"]["serviceAccountName"] == service
        account = of_kind(r.docs, "ServiceAccount")[service]
        assert account["automountServiceAccountToken"] is False

        svc = of_kind(r.docs, "Service")[service]
        assert svc["spec"]["selector"] == {"app": service}
        assert svc["spec"]["ports"] == [{"name": "http", "port": PORTS[service], "targetPort": "http"}]

        container = _main_container(r, service)
        assert container["image"] == f"todo-suite/{service}:0.2.0"
        assert container["ports"] == [{"name": "http", "containerPort": PORTS[service]}]
        # (In the mesh variants todos, reminders and shares are probed over their socket: the test below.)
        if not (r.mesh and service in SOCKET_SERVICES):
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

        init = template["spec"].get("initContainers", [])
        if service in WITH_DATABASE:
            (migrate,) = init
            assert migrate["command"] == ["python", "-m", f"{service}.migrate"]
            assert migrate["image"] == container["image"]
            assert migrate["envFrom"] == container["envFrom"]
        else:
            assert init == []


def test_the_services_reach_each_other_by_their_service_names(renders: Renders) -> None:
    r = renders.by_overlay["passthrough"]
    in_cluster = {s: f"http://{s}.{NAMESPACE}.svc.cluster.local:{PORTS[s]}" for s in SERVICES}
    assert json.loads(_env(r, "gateway")["GATEWAY_UPSTREAMS"]) == {
        s: in_cluster[s] for s in ("todos", "shares", "reminders")
    }
    for service in ("reminders", "shares"):
        assert _env(r, service)[f"{service.upper()}_TODOS_URL"] == in_cluster["todos"]
    assert _env(r, "reminders")["REMINDERS_SMTP_HOST"] == f"mailsink.{NAMESPACE}.svc.cluster.local"
    assert of_kind(r.docs, "Service")["mailsink"]["spec"]["ports"][0]["port"] == int(
        _env(r, "reminders")["REMINDERS_SMTP_PORT"]
    )
    for service in SERVICES:
        env = _env(r, service)
        # The public issuer (what a port-forwarded browser sees) never changes; the internal URLs point at identity.
        assert env["AUTHZ_ISSUER"] == "http://127.0.0.1:9000"
        assert env["AUTHZ_JWKS_URL"] == f"{in_cluster['identity']}/jwks"
        assert env["AUTHZ_TOKEN_URL"] == f"{in_cluster['identity']}/token"
        assert env["AUTHZ_IDENTITY_URL"] == in_cluster["identity"]
    assert _env(r, "identity")["IDENTITY_ISSUER"] == "http://127.0.0.1:9000"


def test_the_reminder_scan_is_a_cronjob_that_runs_as_reminders(renders: Renders) -> None:
    for r in renders.by_overlay.values():
        job = of_kind(r.docs, "CronJob")["reminders-scan"]
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        spec = pod_template(job)["spec"]
        assert spec["serviceAccountName"] == "reminders"
        (container,) = spec["containers"]
        assert container["command"] == ["python", "-m", "reminders.run_once"]
        assert container["image"] == _main_container(r, "reminders")["image"]
        assert container["envFrom"] == _main_container(r, "reminders")["envFrom"]
        # Not `app: reminders`: the reminders Service must never route to a scan's pod.
        assert pod_template(job)["metadata"]["labels"]["app"] == "reminders-scan"
        assert _env(r, "reminders")["REMINDERS_INTERVAL_SECONDS"] == "0"


def test_postgres_has_a_volume_an_init_script_and_a_database_per_service(renders: Renders) -> None:
    r = renders.by_overlay["passthrough"]
    postgres = of_kind(r.docs, "StatefulSet")["postgres"]
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    spec = pod_template(postgres)["spec"]
    assert spec["securityContext"]["fsGroup"] == 999
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    writable = {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"}  # noqa: S108 - mount paths
    assert {*writable, "/docker-entrypoint-initdb.d"} <= mounts
    script = next(iter(by_prefix(r.docs, "ConfigMap", "postgres-init")["data"].values()))
    assert "for service in identity todos reminders shares" in script
    passwords = secret_data(r.docs, "postgres-secrets")
    for service in WITH_DATABASE:
        url = urlsplit(_env(r, service)[f"{service.upper()}_DATABASE_URL"])
        assert url.scheme == "postgresql"
        assert (url.hostname, url.port) == (f"postgres.{NAMESPACE}.svc.cluster.local", 5432)
        assert url.username == service  # its own role
        assert url.path == f"/{service}"  # and its own database
        assert url.password == passwords[f"{service.upper()}_DB_PASSWORD"]


def test_development_secrets_are_obviously_fake_and_agree(rendered: Rendered) -> None:
    secrets = [d for d in rendered.docs if d["kind"] == "Secret"]
    for doc in secrets:
        for key, value in secret_data(rendered.docs, doc["metadata"]["name"].rsplit("-", 1)[0]).items():
            assert DEV_ONLY in value, f"{doc['metadata']['name']} {key}: not marked development-only"
    identity = _env(rendered, "identity")
    for client in ("reminders", "shares", "gateway"):
        own = _env(rendered, client)[f"{client.upper()}_CLIENT_SECRET"]
        assert own == identity[f"IDENTITY_CLIENT_SECRET_{client.upper()}"], client
    assert identity["IDENTITY_CLIENT_SECRET_IDENTITY_ADMIN"].startswith(DEV_ONLY)


# --- the mode ---------------------------------------------------------------------------------------------------


def test_the_mode_and_the_mesh_flag_are_the_overlays(rendered: Rendered) -> None:
    authz = config_data(rendered.docs, "authz-config")
    assert authz["AUTHZ_MODE"] == rendered.mode
    assert authz["AUTHZ_MESH"] == ("true" if rendered.mesh else "false")
    for service in SERVICES:
        assert _env(rendered, service)["AUTHZ_MODE"] == rendered.mode
    # trust without the mesh runs only as the labelled insecure demo; nowhere else is that flag on.
    demo = authz.get("AUTHZ_INSECURE_DEMO", "false")
    assert demo == ("true" if (rendered.mode == "trust" and not rendered.mesh) else "false")


def test_each_mode_has_exactly_its_own_settings(rendered: Rendered) -> None:
    env = {service: _env(rendered, service) for service in SERVICES}
    gateway_url = f"http://gateway.{NAMESPACE}.svc.cluster.local:8080"
    jwks = f"{gateway_url}/.well-known/jwks.json"

    reissue = rendered.mode == "reissue"
    for service in ("todos", "shares", "reminders"):
        assert env[service].get("AUTHZ_GATEWAY_ISSUER") == (gateway_url if reissue else None)
        assert env[service].get("AUTHZ_GATEWAY_JWKS_URL") == (jwks if reissue else None)
    assert env["gateway"].get("GATEWAY_ISSUER") == (gateway_url if reissue else None)
    trusted = env["identity"].get("IDENTITY_TRUSTED_SUBJECT_ISSUERS")
    assert (json.loads(trusted) if trusted else None) == ({gateway_url: jwks} if reissue else None)

    extract = rendered.mode == "extract"
    keys = json.loads(env["gateway"].get("GATEWAY_EXTRACT_KEYS", "{}"))
    assert set(keys) == ({"todos", "shares", "reminders"} if extract else set())
    for service in ("todos", "shares", "reminders"):
        assert env[service].get("AUTHZ_EXTRACT_KEY") == keys.get(service)  # the same key on both ends
    assert len(set(keys.values())) == len(keys)  # a key per service

    for key in keys.values():
        authz.check_key(key, "GATEWAY_EXTRACT_KEYS")  # at least 32 bytes: the gateway would not start otherwise

    # The realm's edge clients: the only clients whose users' tokens the edge accepts, in every mode; in a
    # mode whose edge tokens are opaque (phantom), the clients identity gives opaque tokens.
    edge = edge_clients()
    assert json.loads(env["gateway"]["GATEWAY_EDGE_CLIENTS"]) == edge
    opaque = env["identity"].get("IDENTITY_OPAQUE_TOKEN_CLIENTS")
    expected_opaque = edge if gateway_mode(Mode(rendered.mode)).opaque_edge_tokens else None
    assert (json.loads(opaque) if opaque else None) == expected_opaque


def test_each_overlay_sets_what_its_mode_declares(rendered: Rendered) -> None:
    """The settings each mode's two modules declare (k8s/components/modes/modes.json) are set in its overlay;
    a mode unsafe without the mesh runs without it only as the labelled insecure demo."""
    mode = json.loads((tools.REPO / "k8s/components/modes/modes.json").read_text())["modes"][rendered.mode]
    for name in mode["gateway"]["settings"]:
        assert name in _env(rendered, "gateway"), name
    for service in ("todos", "shares", "reminders"):
        for name in mode["service"]["settings"]:
            assert name in _env(rendered, service), (service, name)
    demo = config_data(rendered.docs, "authz-config").get("AUTHZ_INSECURE_DEMO", "false")
    assert demo == ("true" if mode["service"]["unsafe_without_mesh"] and not rendered.mesh else "false")


# --- the mesh -----------------------------------------------------------------------------------------------------


def _istio_by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ISTIO_KINDS}
    for doc in docs:
        if doc["kind"] in ISTIO_KINDS:
            found[doc["kind"]].append(doc)
    return found


def _generated(policy: Policy, folder: str) -> dict[str, list[dict[str, Any]]]:
    docs = [
        doc
        for name, text in istio.components(policy)[folder].items()
        if name != "kustomization.yaml"
        for doc in yaml.safe_load_all(text)
    ]
    return _istio_by_kind(docs)


def test_the_mesh_objects_are_exactly_the_generated_ones(rendered: Rendered, policy: Policy) -> None:
    found = _istio_by_kind(rendered.docs)
    if not rendered.mesh:
        assert found == {kind: [] for kind in ISTIO_KINDS}
        return
    mesh, jwt = _generated(policy, "mesh"), _generated(policy, "mesh-jwt")
    (peer,) = found["PeerAuthentication"]
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}
    key = lambda doc: doc["metadata"]["name"]  # noqa: E731
    # The peer policy's ALLOW per workload; in the JWT modes also mesh-jwt's claim-based DENY per JWT workload.
    expected_policies = mesh["AuthorizationPolicy"] + (jwt["AuthorizationPolicy"] if rendered.mode in JWT_MODES else [])
    lacking = sorted({key(doc) for doc in expected_policies} - {key(doc) for doc in found["AuthorizationPolicy"]})
    assert not lacking, f"the rendered mesh lacks the AuthorizationPolicy {lacking}: nothing denies those calls"
    assert sorted(found["AuthorizationPolicy"], key=key) == sorted(expected_policies, key=key)
    expected_jwt = jwt["RequestAuthentication"] if rendered.mode in JWT_MODES else []
    assert sorted(found["RequestAuthentication"], key=key) == sorted(expected_jwt, key=key)
    assert sorted(found["Sidecar"], key=key) == sorted(mesh["Sidecar"], key=key)


# The apps the edge never calls listen, in the mesh variants, on a Unix socket shared with their sidecar only
# (meshgen/sidecar.py): nothing in the pod, and no port-forward, reaches them past it.
SOCKET_SERVICES = ("todos", "reminders", "shares")
APP_SOCKET = "unix:///var/run/app/app.sock"


def test_in_the_mesh_the_inner_apps_listen_only_on_a_socket_their_sidecar_shares(rendered: Rendered) -> None:
    sidecars = of_kind(rendered.docs, "Sidecar")
    for service in SERVICES:
        deployment = _deployment(rendered, service)
        pod = pod_template(deployment)
        app = _main_container(rendered, service)
        mounts = {m["name"]: m["mountPath"] for m in app.get("volumeMounts", [])}
        on_socket = rendered.mesh and service in SOCKET_SERVICES
        if not on_socket:
            assert "UVICORN_UDS" not in _env(rendered, service)
            assert "app-socket" not in mounts
            assert service not in sidecars
            assert app["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            continue
        # The sidecar hands the service's port to the socket (the Service's targetPort is that port).
        (listener,) = sidecars[service]["spec"]["ingress"]
        assert listener == {"port": {"number": PORTS[service], "protocol": "HTTP", "name": "http"},
                            "defaultEndpoint": APP_SOCKET}  # fmt: skip
        assert sidecars[service]["spec"]["workloadSelector"] == {"labels": {"app": service}}
        assert sidecars[service]["spec"]["egress"] == [{"hosts": ["*/*"]}]  # outbound as without a Sidecar
        # The app: uvicorn on the socket (UVICORN_UDS wins over the image's --host/--port), in the shared folder.
        assert _env(rendered, service)["UVICORN_UDS"] == APP_SOCKET.removeprefix("unix://")
        assert mounts["app-socket"] == "/var/run/app"
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["app-socket"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Mi"}
        # The injected istio-proxy mounts it too (the annotation); no other container of the pod does.
        annotation = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/userVolumeMount"])
        assert annotation == [{"name": "app-socket", "mountPath": "/var/run/app"}]
        others = [c for c in containers(pod["spec"]) if c is not app]
        assert all("app-socket" not in {m["name"] for m in c.get("volumeMounts", [])} for c in others)
        # Probes over the socket: nothing listens on the port for the kubelet (or Istio's agent) to call.
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            assert "httpGet" not in app[probe], probe
            assert app[probe]["exec"]["command"][-2:] == ["/var/run/app/app.sock", path], probe


def test_sidecars_exactly_in_the_mesh_variants(rendered: Rendered) -> None:
    injected = {
        w["metadata"]["name"]
        for w in workloads(rendered.docs)
        if pod_template(w)["metadata"]["labels"].get("sidecar.istio.io/inject") == "true"
    }
    assert injected == ({*SERVICES, "reminders-scan"} if rendered.mesh else set())
    if rendered.mesh:
        job = pod_template(of_kind(rendered.docs, "CronJob")["reminders-scan"])
        assert job["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"  # or the Job never ends
        namespace = of_kind(rendered.docs, "Namespace")[NAMESPACE]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"  # istio-init
    else:
        namespace = of_kind(rendered.docs, "Namespace")[NAMESPACE]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- NetworkPolicies --------------------------------------------------------------------------------------------


def _pod_labels(r: Rendered) -> dict[str, dict[str, str]]:
    return {w["metadata"]["name"]: pod_template(w)["metadata"]["labels"] for w in workloads(r.docs)}


def test_network_policies_are_the_generated_ones(rendered: Rendered, policy: Policy) -> None:
    generated = [
        doc
        for name, text in netpol.network_policies(policy).items()
        if name != "kustomization.yaml"
        for doc in yaml.safe_load_all(text)
    ]
    found = of_kind(rendered.docs, "NetworkPolicy")
    for doc in generated:
        assert found[doc["metadata"]["name"]]["spec"] == doc["spec"]
    extra = set(found) - {d["metadata"]["name"] for d in generated}
    assert extra == ({"allow-istiod"} if rendered.mesh else set())
    assert found["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_network_policies_allow_exactly_the_peer_policy(rendered: Rendered, policy: Policy) -> None:
    netpols = list(of_kind(rendered.docs, "NetworkPolicy").values())
    pods = _pod_labels(rendered)
    as_workload = {**{s: s for s in SERVICES}, "reminders-scan": "reminders"}
    for caller_pod, callee in product(as_workload, SERVICES):
        caller = as_workload[caller_pod]
        allowed = caller in policy.callers_of(callee)
        assert can_connect(netpols, pods[caller_pod], pods[callee], PORTS[callee]) == allowed, (
            f"{caller_pod} -> {callee}:{PORTS[callee]} should be {'allowed' if allowed else 'denied'}"
        )
    # The examples the design names: todos reaches neither reminders nor shares; reminders reaches todos.
    assert not can_connect(netpols, pods["todos"], pods["reminders"], PORTS["reminders"])
    assert not can_connect(netpols, pods["todos"], pods["shares"], PORTS["shares"])
    assert can_connect(netpols, pods["reminders"], pods["todos"], PORTS["todos"])
    # Only on the callee's port.
    assert not can_connect(netpols, pods["gateway"], pods["todos"], 5432)


def test_network_policies_allow_the_platform_and_the_edge(rendered: Rendered, policy: Policy) -> None:
    netpols = list(of_kind(rendered.docs, "NetworkPolicy").values())
    pods = _pod_labels(rendered)
    for name, labels in pods.items():
        kube_system = {"kubernetes.io/metadata.name": "kube-system"}
        for protocol in ("UDP", "TCP"):
            assert can_connect(
                netpols, labels, {"k8s-app": "kube-dns"}, 53, dst_namespace=kube_system, protocol=protocol
            ), name
    clients = {"postgres": {*WITH_DATABASE, "reminders-scan"}, "mailsink": {"reminders", "reminders-scan"}}
    ports = {"postgres": 5432, "mailsink": 1025}
    for backend, allowed in clients.items():
        for name, labels in pods.items():
            if name != backend:
                assert can_connect(netpols, labels, pods[backend], ports[backend]) == (name in allowed), (name, backend)
    observability = {"kubernetes.io/metadata.name": "observability"}
    for service in SERVICES:
        assert can_connect(netpols, pods[service], {"app": "collector"}, 4317, dst_namespace=observability)
        # The edge: anything may reach the gateway and identity, nothing else of the suite.
        edge = service in policy.ingress_services()
        assert can_connect(netpols, None, pods[service], PORTS[service]) == edge, service
    assert not can_connect(netpols, None, pods["postgres"], 5432)
    assert not can_connect(netpols, pods["gateway"], None, 443)  # no egress to the internet
    assert INGRESS in policy.callers_of("gateway")
    if rendered.mesh:
        istio_system = {"kubernetes.io/metadata.name": "istio-system"}
        for service in SERVICES:
            assert can_connect(netpols, pods[service], {"app": "istiod"}, 15012, dst_namespace=istio_system)

"""The committed k8s/components/mesh*/ files: exactly what mesh/policy.yaml generates (not stale), and saying
what the design says (read back as YAML, not as the generator's intent)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from meshgen.cli import stale_components
from meshgen.istio import DEFAULT_INGRESS_PRINCIPAL, IstioOptions
from meshgen.policy import METHODS
from tests.k8s import tools as k8s_tools

REPO = Path(__file__).parents[3]
COMPONENTS = REPO / "k8s" / "components"
NAMESPACE = "todo-suite"
SERVICE_ACCOUNTS = {"gateway", "identity", "todos", "reminders", "shares", "web"}

# The fields Istio's security.istio.io/v1 API has where we write (its CRDs would prune anything else,
# silently: a misspelt `jwksURI` would leave a rule with no keys). Ref: istio.io/latest/docs/reference/config/security/
FIELDS = {
    "AuthorizationPolicy": {"selector", "targetRef", "targetRefs", "action", "provider", "rules"},
    "rule": {"from", "to", "when"},
    "source": {"principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
               "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks", "serviceAccounts",
               "notServiceAccounts"},
    "operation": {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"},
    "PeerAuthentication": {"selector", "mtls", "portLevelMtls"},
    "RequestAuthentication": {"selector", "targetRef", "targetRefs", "jwtRules"},
    "jwtRule": {"issuer", "audiences", "jwksUri", "jwks", "fromHeaders", "fromParams", "outputPayloadToHeader",
                "forwardOriginalToken", "outputClaimToHeaders", "fromCookies", "timeout"},
    # networking.istio.io/v1. Ref: istio.io/latest/docs/reference/config/networking/sidecar/
    "Sidecar": {"workloadSelector", "ingress", "egress", "inboundConnectionPool", "outboundTrafficPolicy"},
}  # fmt: skip


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(COMPONENTS.glob("mesh*/*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def allow_policies() -> dict[str, dict[str, Any]]:
    """The peer policy's AuthorizationPolicies (k8s/components/mesh), one per workload, by name."""
    return {name: doc for name, doc in of_kind("AuthorizationPolicy").items() if doc["spec"]["action"] == "ALLOW"}


def claim_policies() -> dict[str, dict[str, Any]]:
    """The claim-based DENY policies of k8s/components/mesh-jwt, by the workload they select."""
    docs = []
    for path in sorted((COMPONENTS / "mesh-jwt").glob("authorization-policy-*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return {doc["spec"]["selector"]["matchLabels"]["app"]: doc for doc in docs}


def rules_naming(caller: str) -> dict[str, list[dict[str, Any]]]:
    """Service -> the operations of every rule whose principals include `caller`'s."""
    principal = f"cluster.local/ns/{NAMESPACE}/sa/{caller}"
    found: dict[str, list[dict[str, Any]]] = {}
    for name, doc in allow_policies().items():
        for rule in doc["spec"].get("rules", []):
            if any(principal in src["source"]["principals"] for src in rule["from"]):
                found.setdefault(name, []).extend(op["operation"] for op in rule["to"])
    return found


class TestNotStale:
    def test_the_committed_components_are_what_the_policy_generates(self, policy) -> None:
        problems = stale_components(policy, COMPONENTS, IstioOptions())
        assert not problems, (
            "k8s/components/mesh*/ are stale: run `uv run --no-sync python -m meshgen k8s`\n" + "\n".join(problems)
        )

    def test_each_component_has_a_readme(self) -> None:
        for folder in ("mesh", "mesh-jwt"):
            assert (COMPONENTS / folder / "README.md").is_file(), folder


class TestMeaning:
    def test_every_object_is_in_the_namespace_and_speaks_istios_v1_fields(self) -> None:
        for doc in documents():
            api = "networking.istio.io/v1" if doc["kind"] == "Sidecar" else "security.istio.io/v1"
            assert doc["apiVersion"] == api, doc["metadata"]
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]
            assert set(doc["spec"]) <= FIELDS[doc["kind"]], doc["metadata"]
            for rule in doc["spec"].get("rules", []):
                assert set(rule) <= FIELDS["rule"]
                assert all(set(src["source"]) <= FIELDS["source"] for src in rule["from"])
                assert all(set(op["operation"]) <= FIELDS["operation"] for op in rule["to"])
            for jwt_rule in doc["spec"].get("jwtRules", []):
                assert set(jwt_rule) <= FIELDS["jwtRule"]

    def test_mutual_tls_is_strict_for_the_whole_namespace(self) -> None:
        (peer_auth,) = of_kind("PeerAuthentication").values()
        assert peer_auth["spec"] == {"mtls": {"mode": "STRICT"}}  # no selector: every workload

    def test_one_allow_policy_per_workload_selected_by_its_app_label(self) -> None:
        policies = allow_policies()
        assert set(policies) == SERVICE_ACCOUNTS
        for name, doc in policies.items():
            assert doc["spec"]["action"] == "ALLOW"
            assert doc["spec"]["selector"] == {"matchLabels": {"app": name}}

    def test_principals_are_istio_form_and_known(self) -> None:
        known = {f"cluster.local/ns/{NAMESPACE}/sa/{sa}" for sa in SERVICE_ACCOUNTS} | {DEFAULT_INGRESS_PRINCIPAL}
        for doc in of_kind("AuthorizationPolicy").values():
            for rule in doc["spec"]["rules"]:
                assert rule["from"], doc["metadata"]
                for source in rule["from"]:
                    for principal in source["source"]["principals"]:
                        assert not principal.startswith("spiffe://"), principal
                        assert principal in known, principal

    def test_methods_and_paths_are_well_formed(self) -> None:
        for doc in of_kind("AuthorizationPolicy").values():
            for rule in doc["spec"]["rules"]:
                for op in rule["to"]:
                    assert set(op["operation"].get("methods", [])) <= set(METHODS)
                    assert op["operation"]["paths"], doc["metadata"]
                    assert all(p.startswith("/") for p in op["operation"]["paths"])

    def test_claim_rules_mirror_the_peer_rules_and_only_narrow_them(self) -> None:
        # Every workload that validates identity's JWTs has a DENY policy in mesh-jwt (never an ALLOW,
        # which Istio would OR with the peer policy), with one rule per peer rule: the same callers and
        # operations, for identity's tokens, denied when `aud` does not name the workload.
        claims = claim_policies()
        assert set(claims) == {"todos", "shares", "reminders"}
        for workload, doc in claims.items():
            assert doc["spec"]["action"] == "DENY"
            peer_rules = allow_policies()[workload]["spec"]["rules"]
            assert len(doc["spec"]["rules"]) == len(peer_rules)
            for claim_rule, peer_rule in zip(doc["spec"]["rules"], peer_rules, strict=True):
                assert claim_rule["to"] == peer_rule["to"]
                (source,) = claim_rule["from"]
                assert source["source"]["principals"] == peer_rule["from"][0]["source"]["principals"]
                assert source["source"]["requestPrincipals"] == ["http://127.0.0.1:9000/*"]
                assert claim_rule["when"] == [{"key": "request.auth.claims[aud]", "notValues": [workload]}]

    def test_reminders_may_only_get_the_due_list_on_todos(self) -> None:
        called = rules_naming("reminders")
        assert called["todos"] == [{"methods": ["GET"], "paths": ["/todos/due"]}]
        assert set(called) == {"todos", "identity", "gateway"}  # no shares; identity and the JWKS: infrastructure
        assert called["gateway"] == [{"methods": ["GET"], "paths": ["/.well-known/jwks.json"]}]

    def test_todos_calls_no_service_of_the_suite(self) -> None:
        called = rules_naming("todos")
        # Not a caller of reminders, shares (or itself): only of identity (its keys, discovery) and of the
        # gateway's JWKS, which it needs to verify the gateway's internal tokens.
        assert set(called) == {"identity", "gateway"}
        assert called["gateway"] == [{"methods": ["GET"], "paths": ["/.well-known/jwks.json"]}]
        assert all(set(op.get("methods", [])) <= {"GET", "POST"} for op in called["identity"])

    def test_shares_reaches_exactly_the_delegated_paths_of_todos(self) -> None:
        assert rules_naming("shares")["todos"] == [
            {"methods": ["GET"], "paths": ["/todos/shared", "/todos/{*}"]},
            {"methods": ["PUT", "DELETE"], "paths": ["/todos/{*}/grants/{*}"]},
        ]

    def test_the_gateway_may_call_the_three_services_everywhere(self) -> None:
        called = rules_naming("gateway")
        for service in ("todos", "shares", "reminders"):
            assert called[service] == [{"paths": [f"/{service}", f"/{service}/*"]}], service

    def test_identity_serves_every_workload_its_protocol_endpoints(self) -> None:
        for caller in SERVICE_ACCOUNTS - {"identity", "web"}:
            paths = {p for op in rules_naming(caller)["identity"] for p in op["paths"]}
            assert {"/.well-known/openid-configuration", "/jwks", "/token", "/introspect", "/users"} <= paths
            assert not any(p.startswith("/admin") for p in paths)

    def test_the_web_ui_reaches_identity_as_a_relying_party_and_the_gateways_api(self) -> None:
        called = rules_naming("web")
        assert called["identity"] == [
            {"methods": ["GET"], "paths": ["/.well-known/openid-configuration", "/jwks"]},
            {"methods": ["POST"], "paths": ["/token", "/logout"]},
        ]
        assert called["gateway"] == [{"paths": ["/api/*"]}]
        assert set(called) == {"identity", "gateway"}

    def test_the_edge_reaches_only_the_web_ui_the_gateway_and_identity(self) -> None:
        edge = [
            name
            for name, doc in allow_policies().items()
            for rule in doc["spec"]["rules"]
            if any(DEFAULT_INGRESS_PRINCIPAL in src["source"]["principals"] for src in rule["from"])
        ]
        assert sorted(edge) == ["gateway", "identity", "web"]

    def test_request_authentication_for_the_services_that_validate_identitys_jwts(self) -> None:
        docs = of_kind("RequestAuthentication")
        assert set(docs) == {"todos", "shares", "reminders"}
        for name, doc in docs.items():
            assert doc["spec"]["selector"] == {"matchLabels": {"app": name}}
            assert doc["spec"]["jwtRules"] == [
                {
                    "issuer": "http://127.0.0.1:9000",
                    "jwksUri": "http://identity.todo-suite.svc.cluster.local:9000/jwks",
                    "forwardOriginalToken": True,
                }
            ]


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: {name}
          image: {name}
          volumeMounts: [{{name: tmp, mountPath: /tmp}}]
          livenessProbe: {{httpGet: {{path: /healthz, port: http}}}}
          readinessProbe: {{httpGet: {{path: /readyz, port: http}}}}
          startupProbe: {{httpGet: {{path: /healthz, port: http}}}}
      volumes: [{{name: tmp, emptyDir: {{}}}}]
"""


def test_the_components_render_with_kustomize(tmp_path: Path) -> None:
    kubectl = k8s_tools.kubectl()  # kustomize v5: from PATH, else fetched as TOOLING.md says
    shutil.copytree(COMPONENTS / "mesh", tmp_path / "components" / "mesh")
    shutil.copytree(COMPONENTS / "mesh-jwt", tmp_path / "components" / "mesh-jwt")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "deployments.yaml").write_text("---".join(DEPLOYMENT.format(name=n) for n in ("todos", "postgres")))
    (overlay / "kustomization.yaml").write_text(
        "resources: [deployments.yaml]\ncomponents: [../components/mesh, ../components/mesh-jwt]\n"
    )
    out = k8s_tools.render(kubectl, overlay)
    rendered = [doc for doc in yaml.safe_load_all(out) if doc]
    kinds = sorted(doc["kind"] for doc in rendered)
    # One ALLOW per workload (mesh) and one claim-based DENY per JWT-validating workload (mesh-jwt).
    assert kinds.count("AuthorizationPolicy") == 6 + 3
    assert kinds.count("RequestAuthentication") == 3
    assert kinds.count("PeerAuthentication") == 1
    deployments = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Deployment"}
    assert deployments["todos"]["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert "sidecar.istio.io/inject" not in deployments["postgres"]["spec"]["template"]["metadata"]["labels"]
    assert kinds.count("Sidecar") == 3
    # todos' app moved to its socket, postgres untouched (tests/k8s checks the real overlays in full).
    todos, postgres = (deployments[n]["spec"]["template"]["spec"] for n in ("todos", "postgres"))
    assert todos["containers"][0]["env"] == [{"name": "UVICORN_UDS", "value": "/var/run/app/app.sock"}]
    assert "exec" in todos["containers"][0]["readinessProbe"]
    assert {v["name"] for v in todos["volumes"]} == {"tmp", "app-socket"}
    assert "env" not in postgres["containers"][0]
    assert postgres["containers"][0]["readinessProbe"] == {"httpGet": {"path": "/readyz", "port": "http"}}

"""The Istio manifests, built from small policies: one per kind of rule, and the generator's options."""

from __future__ import annotations

import pytest
import yaml

from meshgen.istio import IstioOptions, authorization_policy, components, mesh_component, request_authentication
from meshgen.output import GENERATED
from meshgen.policy import PolicyError

#: Ports for the small policies' workloads (each gets a Sidecar for its app's socket unless the edge calls it).
SMALL_PORTS = {"a": 8101, "b": 8102, "c": 8103, "d": 8104, "x": 8105, "todos": 8001, "shares": 8003, "reminders": 8002}


def rule(callers: list[str], *operations: dict) -> dict:
    return {"from": callers, "to": list(operations)}


def test_a_rule_becomes_principals_and_operations(small) -> None:
    policy = small(
        {
            "a": {
                "allow": [
                    rule(["b", "c"], {"methods": ["GET"], "paths": ["/a/due", "/a/*"]}, {"paths": ["/a/{*}/x/{*}"]}),
                ]
            }
        }
    )
    doc = authorization_policy(policy, "a", IstioOptions())
    assert doc["apiVersion"] == "security.istio.io/v1"
    assert doc["kind"] == "AuthorizationPolicy"
    assert doc["metadata"] == {"name": "a", "namespace": "demo"}
    assert doc["spec"] == {
        "selector": {"matchLabels": {"app": "a"}},
        "action": "ALLOW",
        "rules": [
            {
                "from": [{"source": {"principals": ["cluster.local/ns/demo/sa/b", "cluster.local/ns/demo/sa/c"]}}],
                "to": [
                    {"operation": {"methods": ["GET"], "paths": ["/a/due", "/a/*"]}},
                    {"operation": {"paths": ["/a/{*}/x/{*}"]}},  # no methods: any
                ],
            }
        ],
    }


def test_a_service_nobody_may_call_gets_an_allow_nothing_policy(small) -> None:
    policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}})
    doc = authorization_policy(policy, "b", IstioOptions())
    # No `rules`: an ALLOW policy that matches nothing. Without any policy Istio would allow every peer.
    assert doc["spec"] == {"selector": {"matchLabels": {"app": "b"}}, "action": "ALLOW"}
    text = mesh_component(policy, IstioOptions(app_ports=SMALL_PORTS))["authorization-policy-b.yaml"]
    assert "# Nobody may call b" in text


def test_the_edge_is_the_ingress_principal_given(small) -> None:
    policy = small({"a": {"allow": [rule(["ingress", "b"], {"paths": ["/*"]})]}})
    options = IstioOptions(ingress_principal="cluster.local/ns/istio-ingress/sa/istio-ingress")
    principals = authorization_policy(policy, "a", options)["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert principals == ["cluster.local/ns/istio-ingress/sa/istio-ingress", "cluster.local/ns/demo/sa/b"]


def test_request_authentication_takes_issuer_and_jwks_uri(small) -> None:
    policy = small({})
    doc = request_authentication(policy, "a", IstioOptions(issuer="https://id.example", jwks_uri="http://id/jwks"))
    assert doc["kind"] == "RequestAuthentication"
    assert doc["spec"] == {
        "selector": {"matchLabels": {"app": "a"}},
        # The services read the token too: Istio would otherwise strip it after validating it.
        "jwtRules": [{"issuer": "https://id.example", "jwksUri": "http://id/jwks", "forwardOriginalToken": True}],
    }


def test_the_defaults_are_the_local_issuer_and_identity_in_the_cluster() -> None:
    options = IstioOptions()
    assert options.issuer == "http://127.0.0.1:9000"
    assert options.jwks_uri == "http://identity.todo-suite.svc.cluster.local:9000/jwks"
    assert options.jwt_workloads == ("todos", "shares", "reminders")


def test_components_are_kustomize_components_listing_every_file(small) -> None:
    policy = small({}, workloads=("todos", "shares", "reminders", "x"))
    options = IstioOptions(app_ports=SMALL_PORTS)
    for folder, files in components(policy, options).items():
        kustomization = yaml.safe_load(files["kustomization.yaml"])
        assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1alpha1", folder
        assert kustomization["kind"] == "Component", folder
        assert sorted(kustomization["resources"]) == sorted(set(files) - {"kustomization.yaml"}), folder
        for name, text in files.items():
            assert text.startswith(f"# {GENERATED}\n"), (folder, name)
    mesh = components(policy, options)["mesh"]
    assert sorted(mesh) == [
        "authorization-policy-reminders.yaml",
        "authorization-policy-shares.yaml",
        "authorization-policy-todos.yaml",
        "authorization-policy-x.yaml",
        "kustomization.yaml",
        "peer-authentication.yaml",
        "sidecar-reminders.yaml",
        "sidecar-shares.yaml",
        "sidecar-todos.yaml",
        "sidecar-x.yaml",
    ]
    assert yaml.safe_load(mesh["peer-authentication.yaml"])["spec"] == {"mtls": {"mode": "STRICT"}}


def test_a_jwt_workload_must_be_in_the_policy(small) -> None:
    with pytest.raises(PolicyError, match="RequestAuthentication for 'todos'"):
        components(small({}), IstioOptions(app_ports=SMALL_PORTS))


def test_a_workload_the_edge_never_calls_gets_a_sidecar_to_its_apps_socket(small) -> None:
    policy = small(
        {"a": {"allow": [rule(["ingress"], {"paths": ["/*"]})]}, "b": {"allow": [rule(["a"], {"paths": ["/b"]})]}}
    )
    mesh = mesh_component(policy, IstioOptions(app_ports=SMALL_PORTS))
    # a is the edge (port-forwards reach it as its public surface); b, c, d are not.
    assert sorted(n for n in mesh if n.startswith("sidecar-")) == ["sidecar-b.yaml", "sidecar-c.yaml", "sidecar-d.yaml"]
    doc = yaml.safe_load(mesh["sidecar-b.yaml"])
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]) == (
        "networking.istio.io/v1",
        "Sidecar",
        {"name": "b", "namespace": "demo"},
    )
    assert doc["spec"]["ingress"] == [
        {
            "port": {"number": 8102, "protocol": "HTTP", "name": "http"},
            "defaultEndpoint": "unix:///var/run/app/app.sock",
        }
    ]
    patches = yaml.safe_load(mesh["kustomization.yaml"])["patches"]
    assert [p["target"]["labelSelector"] for p in patches] == ["app in (a,b,c,d)", "app in (b,c,d)", "app in (b,c,d)"]


def test_a_sidecar_needs_the_workloads_port(small) -> None:
    with pytest.raises(PolicyError, match="Sidecar for 'd': no port known"):
        mesh_component(small({}), IstioOptions(app_ports={"a": 1, "b": 2, "c": 3}))


def test_output_is_deterministic(policy) -> None:
    assert components(policy) == components(policy)


def test_claim_rules_deny_a_token_for_another_audience_on_each_peer_rule(small) -> None:
    from meshgen.istio import claims_policy

    policy = small(
        {"a": {"allow": [rule(["b"], {"methods": ["GET"], "paths": ["/a/*"]}), rule(["c"], {"paths": ["/a"]})]}}
    )
    doc = claims_policy(policy, "a", IstioOptions(issuer="https://id.example"))
    assert doc is not None
    assert doc["metadata"] == {"name": "a-token-audience", "namespace": "demo"}
    # DENY: Istio ORs ALLOW policies, so only a DENY can narrow what the peer rules allow.
    assert doc["spec"]["action"] == "DENY"
    assert doc["spec"]["rules"] == [
        {
            "from": [
                {
                    "source": {
                        "principals": ["cluster.local/ns/demo/sa/b"],
                        "requestPrincipals": ["https://id.example/*"],
                    }
                }
            ],
            "to": [{"operation": {"methods": ["GET"], "paths": ["/a/*"]}}],
            "when": [{"key": "request.auth.claims[aud]", "notValues": ["a"]}],
        },
        {
            "from": [
                {
                    "source": {
                        "principals": ["cluster.local/ns/demo/sa/c"],
                        "requestPrincipals": ["https://id.example/*"],
                    }
                }
            ],
            "to": [{"operation": {"paths": ["/a"]}}],
            "when": [{"key": "request.auth.claims[aud]", "notValues": ["a"]}],
        },
    ]


def test_claim_rules_sit_next_to_the_request_authentication_of_each_jwt_workload(small) -> None:
    names = ("todos", "shares", "reminders")
    policy = small({n: {"allow": [rule(["x"], {"paths": [f"/{n}"]})]} for n in names}, workloads=(*names, "x"))
    files = components(policy, IstioOptions(app_ports=SMALL_PORTS))["mesh-jwt"]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    for name in ("todos", "shares", "reminders"):
        assert f"authorization-policy-{name}-claims.yaml" in kustomization["resources"]
        doc = yaml.safe_load(files[f"authorization-policy-{name}-claims.yaml"])
        assert doc["spec"]["selector"] == {"matchLabels": {"app": name}}


def test_no_claim_rules_for_a_workload_nobody_may_call(small) -> None:
    from meshgen.istio import claims_policy

    # Nothing to narrow: its ALLOW policy with no rule already denies every call.
    assert claims_policy(small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}}), "b", IstioOptions()) is None

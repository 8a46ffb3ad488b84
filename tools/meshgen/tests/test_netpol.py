"""NetworkPolicies from the peer policy (meshgen.netpol): per rule kind, the platform rules, the committed files.

The rendered overlays are checked again, read the way the API defines NetworkPolicies, in tests/k8s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from meshgen import netpol
from meshgen.cli import stale_network_policies
from meshgen.output import GENERATED, comment
from meshgen.policy import Policy, PolicyError

REPO = Path(__file__).parents[3]
COMMITTED = REPO / "k8s" / "base" / "network-policies"


def small(services: dict[str, Any]) -> Policy:
    return Policy.model_validate(
        {"namespace": "demo", "workloads": ["gateway", "todos", "reminders", "shares"], "services": services}
    )


def rule(callers: list[str], paths: tuple[str, ...] = ("/*",), methods: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"from": callers, "to": [{"paths": list(paths), **({"methods": list(methods)} if methods else {})}]}


def pods_selector(*apps: str) -> dict[str, Any]:
    if len(apps) == 1:
        return {"podSelector": {"matchLabels": {"app": apps[0]}}}
    return {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": list(apps)}]}}


def tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


class TestWorkloadPolicy:
    def test_a_rule_is_an_ingress_of_the_callee_and_an_egress_of_the_caller(self) -> None:
        policy = small({"todos": {"allow": [rule(["shares"], methods=("GET",))]}})
        todos = netpol.workload_policy(policy, "todos")
        assert todos["spec"]["ingress"] == [{"from": [pods_selector("shares")], "ports": tcp(8001)}]
        shares = netpol.workload_policy(policy, "shares")
        assert {"to": [pods_selector("todos")], "ports": tcp(8001)} in shares["spec"]["egress"]
        # Methods and paths are the mesh's business: a NetworkPolicy knows pods and ports only.
        assert "GET" not in yaml.safe_dump(todos)

    def test_a_workload_nobody_calls_gets_no_ingress_at_all(self) -> None:
        policy = small({"todos": {"allow": [rule(["gateway"])]}})
        shares = netpol.workload_policy(policy, "shares")
        assert "ingress" not in shares["spec"]
        assert shares["spec"]["policyTypes"] == ["Ingress", "Egress"]  # isolated both ways: nothing comes in

    def test_several_callers_are_several_rules(self) -> None:
        policy = small({"todos": {"allow": [rule(["gateway", "shares"]), rule(["reminders"], ("/todos/due",))]}})
        sources = [r["from"][0] for r in netpol.workload_policy(policy, "todos")["spec"]["ingress"]]
        assert sources == [
            pods_selector("gateway"),
            pods_selector("shares"),
            pods_selector("reminders", "reminders-scan"),
        ]

    def test_the_reminder_scan_runs_as_reminders(self) -> None:
        policy = small({"todos": {"allow": [rule(["reminders"], ("/todos/due",))]}})
        reminders = netpol.workload_policy(policy, "reminders")
        assert reminders["spec"]["podSelector"] == pods_selector("reminders", "reminders-scan")["podSelector"]
        assert {"to": [pods_selector("todos")], "ports": tcp(8001)} in reminders["spec"]["egress"]

    def test_the_edge_reaches_the_gateway_from_anywhere_and_nothing_else(self) -> None:
        policy = small({"gateway": {"allow": [rule(["ingress"])]}})
        gateway = netpol.workload_policy(policy, "gateway")
        assert gateway["spec"]["ingress"] == [{"ports": tcp(8080)}]  # no `from`: any source
        assert "ingress" not in netpol.workload_policy(policy, "todos")["spec"]

    def test_the_edge_calling_a_workload_that_is_not_the_edge_is_refused(self) -> None:
        policy = small({"todos": {"allow": [rule(["ingress"])]}})
        with pytest.raises(PolicyError, match="the edge may call todos"):
            netpol.workload_policy(policy, "todos")

    def test_platform_egress(self) -> None:
        policy = small({})
        egress = netpol.workload_policy(policy, "reminders")["spec"]["egress"]
        assert {"to": [pods_selector("postgres")], "ports": tcp(5432)} in egress
        assert {"to": [pods_selector("mailsink")], "ports": tcp(1025)} in egress
        gateway = netpol.workload_policy(policy, "gateway")["spec"]["egress"]
        assert all(rule["to"] != [pods_selector("postgres")] for rule in gateway)  # no database for the gateway
        collector = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}
        assert {"to": [collector], "ports": tcp(4317) + tcp(4318)} in gateway

    def test_a_workload_without_a_port_is_an_error(self) -> None:
        policy = Policy.model_validate({"namespace": "demo", "workloads": ["gateway", "unknown"]})
        with pytest.raises(PolicyError, match="no port known for unknown"):
            netpol.network_policies(policy)


class TestPlatform:
    def test_default_deny_both_ways_for_every_pod(self, policy: Policy) -> None:
        deny = netpol.default_deny(policy)
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        assert deny["metadata"] == {"name": "default-deny", "namespace": "todo-suite"}

    def test_dns_for_every_pod(self, policy: Policy) -> None:
        (egress,) = netpol.dns(policy)["spec"]["egress"]
        assert egress["to"] == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ]
        assert egress["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]

    def test_backends_accept_only_their_clients(self, policy: Policy) -> None:
        postgres = next(b for b in netpol.PLATFORM.backends if b.name == "postgres")
        (ingress,) = netpol.backend_policy(policy, postgres)["spec"]["ingress"]
        allowed = ingress["from"][0]["podSelector"]["matchExpressions"][0]["values"]
        assert sorted(allowed) == ["identity", "reminders", "reminders-scan", "shares", "todos", "web"]
        assert ingress["ports"] == tcp(5432)

    def test_a_backend_client_that_is_not_a_workload_is_an_error(self) -> None:
        platform = netpol.Platform(
            backends=(netpol.Backend("postgres", 5432, ("nobody",), "x"),),
            dns=netpol.PLATFORM.dns,
            collector=netpol.PLATFORM.collector,
            edge=(),
        )
        with pytest.raises(PolicyError, match="not workloads of the policy"):
            netpol.network_policies(small({}), platform)


class TestFiles:
    def test_one_file_per_policy_and_a_kustomization_listing_them(self, policy: Policy) -> None:
        files = netpol.network_policies(policy)
        kustomization = yaml.safe_load(files["kustomization.yaml"])
        assert kustomization["kind"] == "Kustomization"
        assert kustomization["resources"] == sorted(set(files) - {"kustomization.yaml"})
        assert {"default-deny.yaml", "allow-dns.yaml", "postgres.yaml", "mailsink.yaml"} <= set(files)
        assert {f"{w}.yaml" for w in policy.workloads} <= set(files)
        for name, text in files.items():
            assert text.startswith(comment(GENERATED)), name
            for doc in yaml.safe_load_all(text):
                if name != "kustomization.yaml":
                    assert doc["kind"] == "NetworkPolicy"
                    assert doc["metadata"]["namespace"] == "todo-suite"

    def test_todos_reaches_no_service_of_the_suite_but_identity_and_the_gateways_jwks(self, policy: Policy) -> None:
        egress = netpol.workload_policy(policy, "todos")["spec"]["egress"]
        apps = {r["to"][0]["podSelector"]["matchLabels"]["app"] for r in egress if "podSelector" in r["to"][0]}
        assert apps == {"identity", "gateway", "postgres"}

    def test_the_committed_files_are_what_the_policy_generates(self, policy: Policy) -> None:
        problems = stale_network_policies(policy, COMMITTED)
        assert not problems, "run `uv run --no-sync python -m meshgen k8s`\n" + "\n".join(problems)

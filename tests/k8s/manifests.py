"""Reading rendered manifests: objects by kind and name, pod templates, a pod's environment, NetworkPolicies."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from devstack.registry import load_services

_REGISTRY = load_services(Path(__file__).parents[2] / "services.yaml")
#: The suite's services and their ports (services.yaml: the local contract, the same in k8s/).
PORTS = {name: service.port for name, service in _REGISTRY.items()}
#: The services with tables: PostgreSQL databases and `python -m <svc>.migrate` init containers.
WITH_DATABASE = tuple(name for name, service in _REGISTRY.items() if service.database)
NAMESPACE = "todo-suite"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob")


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def by_prefix(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """A generated ConfigMap or Secret by its name without kustomize's hash suffix."""
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].rsplit("-", 1)[0] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in WORKLOAD_KINDS]


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def config_data(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    return by_prefix(docs, "ConfigMap", name).get("data", {})


def secret_data(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    secret = by_prefix(docs, "Secret", name)
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()} | secret.get("stringData", {})


def container_env(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """What the container's environment holds: its envFrom ConfigMaps and Secrets, then `env` values."""
    env: dict[str, str] = {}
    names = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("ConfigMap", "Secret")}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        doc = names[ref["name"]]
        if doc["kind"] == "Secret":
            env |= {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
        else:
            env |= doc.get("data", {})
    env |= {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    return env


# --- NetworkPolicies, read the way the API defines them ------------------------------------------------------
# Ref: https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        match expr["operator"]:
            case "In":
                ok = present and labels[expr["key"]] in expr["values"]
            case "NotIn":
                ok = not present or labels[expr["key"]] not in expr["values"]
            case "Exists":
                ok = present
            case "DoesNotExist":
                ok = not present
            case other:
                raise AssertionError(f"unknown selector operator {other}")
        if not ok:
            return False
    return True


def _peer_matches(peer: dict[str, Any], labels: dict[str, str] | None, namespace: dict[str, str] | None) -> bool:
    """`labels`/`namespace`: the other pod's labels and its namespace's labels; None for a non-pod source."""
    if "ipBlock" in peer:
        return labels is None
    if labels is None or namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], namespace):
            return False
    elif namespace.get("kubernetes.io/metadata.name") != NAMESPACE:
        return False
    return _selects(peer.get("podSelector", {}), labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def _allowed(
    policies: list[dict[str, Any]], direction: str, pod: dict[str, str], peer: dict[str, str] | None,
    peer_namespace: dict[str, str] | None, port: int, protocol: str,
) -> bool:  # fmt: skip
    kind, key, side = ("Ingress", "ingress", "from") if direction == "in" else ("Egress", "egress", "to")
    selecting = [p for p in policies if kind in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod)]
    if not selecting:
        return True  # not isolated in this direction
    for policy in selecting:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(side)
            if (not peers or any(_peer_matches(p, peer, peer_namespace) for p in peers)) and _port_matches(
                rule, port, protocol
            ):
                return True
    return False


OWN_NAMESPACE = {"kubernetes.io/metadata.name": NAMESPACE}


def can_connect(
    netpols: list[dict[str, Any]], src: dict[str, str] | None, dst: dict[str, str] | None, port: int,
    *, src_namespace: dict[str, str] | None = None, dst_namespace: dict[str, str] | None = None, protocol: str = "TCP",
) -> bool:  # fmt: skip
    """Would the namespace's NetworkPolicies let pod `src` open a connection to pod `dst` on `port`?

    `src`/`dst` are pod labels; None is something that is not a pod of this namespace's policies' view (an
    outside client). A pod in another namespace is given with its namespace's labels.
    """
    src_ns = src_namespace or OWN_NAMESPACE
    dst_ns = dst_namespace or OWN_NAMESPACE
    egress_ok = src is None or src_ns != OWN_NAMESPACE or _allowed(netpols, "out", src, dst, dst_ns, port, protocol)
    ingress_ok = dst is None or dst_ns != OWN_NAMESPACE or _allowed(netpols, "in", dst, src, src_ns, port, protocol)
    return egress_ok and ingress_ok

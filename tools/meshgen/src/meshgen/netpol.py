"""Kubernetes NetworkPolicies from the peer policy: default deny, then exactly the calls it allows.

The same `mesh/policy.yaml` that Istio's AuthorizationPolicies enforce per method and path is enforced
here per pod and port, by the CNI, with or without a mesh: a workload reaches another only if some rule
of the callee names it (`caller -> callee:port`, both as an egress rule of the caller and an ingress rule
of the callee). Besides the suite's own calls, pods need the platform, listed as data below (`PLATFORM`):
DNS, PostgreSQL, the mail sink, an OpenTelemetry collector, and the edge (anything may reach the gateway's
and identity's ports, as an ingress controller or `kubectl port-forward` would).

NetworkPolicies are additive: a pod selected by several policies may do what any of them allows.
Ref: https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshgen.output import GENERATED, comment, dump_yaml
from meshgen.policy import INGRESS, Policy, PolicyError

API = "networking.k8s.io/v1"

#: The port each workload serves on (its container port and Service port, as locally: docs/architecture.md).
PORTS: dict[str, int] = {
    "identity": 9000, "todos": 8001, "reminders": 8002, "shares": 8003, "gateway": 8080, "web": 8000,
}  # fmt: skip

#: Pods that run as a workload but are not its Deployment's: the same ServiceAccount (so the same mesh
#: identity and client), another `app` label (so the workload's Service never routes to them).
EXTRA_PODS: dict[str, tuple[str, ...]] = {"reminders": ("reminders-scan",)}


@dataclass(frozen=True)
class Backend:
    """A platform component in the namespace, selected by its `app` label, and who may reach it."""

    name: str
    port: int
    clients: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class External:
    """Something outside the namespace that pods reach: selected by namespace (and pod) labels."""

    name: str
    namespace_labels: dict[str, str]
    pod_labels: dict[str, str] | None
    ports: tuple[tuple[str, int], ...]
    why: str


@dataclass(frozen=True)
class Platform:
    """What the pods need besides each other: the data behind the platform rules."""

    backends: tuple[Backend, ...]
    dns: External
    collector: External
    #: Workloads anything may reach on their port (the edge: an ingress controller, port-forward).
    edge: tuple[str, ...]


PLATFORM = Platform(
    backends=(
        Backend("postgres", 5432, ("identity", "todos", "reminders", "shares", "web"), "each service's own database"),
        Backend("mailsink", 1025, ("reminders",), "reminder mail over SMTP"),
    ),
    dns=External(
        "dns",
        {"kubernetes.io/metadata.name": "kube-system"},
        {"k8s-app": "kube-dns"},  # CoreDNS keeps kube-dns's label on kind, k3d, minikube, GKE, EKS, AKS
        (("UDP", 53), ("TCP", 53)),
        "every pod resolves Service names",
    ),
    collector=External(
        "otel-collector",
        {"kubernetes.io/metadata.name": "observability"},
        None,
        (("TCP", 4317), ("TCP", 4318)),  # OTLP over gRPC and over HTTP
        "traces and metrics to an OpenTelemetry collector in the namespace `observability`",
    ),
    edge=("gateway", "identity", "web"),
)


def pods(workload: str) -> tuple[str, ...]:
    """The `app` label values of the pods that run as `workload`."""
    return (workload, *EXTRA_PODS.get(workload, ()))


def _selector(apps: tuple[str, ...]) -> dict[str, Any]:
    if len(apps) == 1:
        return {"matchLabels": {"app": apps[0]}}
    return {"matchExpressions": [{"key": "app", "operator": "In", "values": list(apps)}]}


def _port(port: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"protocol": protocol, "port": port}


def _peer_pods(apps: tuple[str, ...]) -> dict[str, Any]:
    return {"podSelector": _selector(apps)}


def _external_peer(external: External) -> dict[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": dict(external.namespace_labels)}}
    if external.pod_labels:
        peer["podSelector"] = {"matchLabels": dict(external.pod_labels)}
    return peer


def _network_policy(policy: Policy, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": policy.namespace},
        "spec": spec,
    }


def _check(policy: Policy, platform: Platform) -> None:
    missing = [w for w in policy.workloads if w not in PORTS]
    if missing:
        raise PolicyError(f"NetworkPolicies: no port known for {', '.join(missing)} (meshgen/netpol.py PORTS)")
    for backend in platform.backends:
        unknown = [c for c in backend.clients if c not in policy.workloads]
        if unknown:
            raise PolicyError(f"NetworkPolicies: {backend.name}'s clients {unknown} are not workloads of the policy")


def default_deny(policy: Policy) -> dict[str, Any]:
    """Every pod of the namespace: no ingress and no egress unless another policy allows it."""
    return _network_policy(policy, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def dns(policy: Policy, platform: Platform = PLATFORM) -> dict[str, Any]:
    """Every pod may ask the cluster's DNS."""
    to = {"to": [_external_peer(platform.dns)], "ports": [_port(p, proto) for proto, p in platform.dns.ports]}
    return _network_policy(policy, "allow-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [to]})


def workload_policy(policy: Policy, workload: str, platform: Platform = PLATFORM) -> dict[str, Any]:
    """What `workload`'s pods may receive (from its callers, the edge) and send (to its destinations, the platform)."""
    ingress: list[dict[str, Any]] = []
    if workload in platform.edge:
        ingress.append({"ports": [_port(PORTS[workload])]})  # no `from`: any source
    for caller in policy.callers_of(workload):
        if caller == INGRESS:
            if workload not in platform.edge:
                raise PolicyError(f"NetworkPolicies: the edge may call {workload}, which is not in PLATFORM.edge")
            continue
        ingress.append({"from": [_peer_pods(pods(caller))], "ports": [_port(PORTS[workload])]})
    egress = [
        {"to": [_peer_pods(pods(destination))], "ports": [_port(PORTS[destination])]}
        for destination in policy.destinations_of(workload)
    ]
    egress += [
        {"to": [_peer_pods((backend.name,))], "ports": [_port(backend.port)]}
        for backend in platform.backends
        if workload in backend.clients
    ]
    egress.append(
        {
            "to": [_external_peer(platform.collector)],
            "ports": [_port(p, proto) for proto, p in platform.collector.ports],
        }
    )
    spec: dict[str, Any] = {"podSelector": _selector(pods(workload)), "policyTypes": ["Ingress", "Egress"]}
    if ingress:
        spec["ingress"] = ingress
    spec["egress"] = egress
    return _network_policy(policy, workload, spec)


def backend_policy(policy: Policy, backend: Backend) -> dict[str, Any]:
    """Who may reach a platform backend: its clients' pods, on its port; it reaches nothing (but DNS)."""
    clients = tuple(app for client in backend.clients for app in pods(client))
    spec = {
        "podSelector": _selector((backend.name,)),
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [_peer_pods(clients)], "ports": [_port(backend.port)]}],
    }
    return _network_policy(policy, backend.name, spec)


def _workload_comment(policy: Policy, workload: str, platform: Platform) -> list[str]:
    callers = [c for c in policy.callers_of(workload) if c != INGRESS]
    lines = [f"{workload} (pods: app in {', '.join(pods(workload))}), port {PORTS[workload]}:"]
    if workload in platform.edge:
        lines.append("  receives from anywhere: it is the edge (an ingress controller, kubectl port-forward)")
    lines.append(f"  receives from {', '.join(callers)}" if callers else "  receives from no workload of the suite")
    destinations = policy.destinations_of(workload)
    lines.append(f"  calls {', '.join(destinations)}" if destinations else "  calls no workload of the suite")
    backends = [f"{b.name} ({b.why})" for b in platform.backends if workload in b.clients]
    lines.append(f"  reaches {', '.join([*backends, platform.collector.name])}")
    return lines


def network_policies(policy: Policy, platform: Platform = PLATFORM) -> dict[str, str]:
    """`k8s/base/network-policies/`: file name -> text (a Kustomization of one NetworkPolicy per file)."""
    _check(policy, platform)
    header = comment(GENERATED)
    files = {
        "default-deny.yaml": header
        + comment("Nothing in or out of any pod of the namespace unless a policy below allows it.")
        + dump_yaml([default_deny(policy)]),
        "allow-dns.yaml": header + comment(f"Egress to DNS: {platform.dns.why}.") + dump_yaml([dns(policy, platform)]),
    }
    for workload in policy.workloads:
        files[f"{workload}.yaml"] = (
            header
            + comment(*_workload_comment(policy, workload, platform))
            + dump_yaml([workload_policy(policy, workload, platform)])
        )
    for backend in platform.backends:
        files[f"{backend.name}.yaml"] = (
            header
            + comment(f"{backend.name}: {backend.why}; only {', '.join(backend.clients)} reach it, on {backend.port}.")
            + dump_yaml([backend_policy(policy, backend)])
        )
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = (
        header
        + comment(
            "NetworkPolicies for the namespace: default deny, then the calls mesh/policy.yaml allows (per pod and",
            "port) plus what the platform needs (meshgen/netpol.py PLATFORM). Included by k8s/base.",
        )
        + dump_yaml([kustomization])
    )
    return files

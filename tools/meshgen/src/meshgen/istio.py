"""Istio manifests from the peer policy, as two Kustomize Components.

- `mesh/`: `PeerAuthentication` STRICT for the namespace; one `AuthorizationPolicy` (action ALLOW) per
  workload — also for a workload nobody may call, because in Istio a workload with no ALLOW policy
  accepts every peer, while an ALLOW policy with no rule accepts none; a patch that asks for sidecar
  injection on the suite's Deployments; and for each workload the edge never calls, a `Sidecar` and
  patches that put its app on a Unix socket only the sidecar reaches (meshgen/sidecar.py).
- `mesh-jwt/`: a `RequestAuthentication` per workload that validates identity's JWTs itself (the
  `passthrough` and `phantom` modes), so the sidecar already refuses a bad token; and beside it a
  claim-based `AuthorizationPolicy` (action DENY) made from the same peer rules: a call the peer policy
  allows that carries identity's token must also name the workload in the token's `aud`
  (`requestPrincipals`, `request.auth.claims[aud]`), so a token meant for another API is refused at the
  sidecar, before the app (which checks it again: defence in depth, not a replacement).

Istio names a peer as its SPIFFE ID without `spiffe://` (`cluster.local/ns/todo-suite/sa/reminders`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshgen import sidecar
from meshgen.netpol import PORTS
from meshgen.output import GENERATED, comment, dump_yaml
from meshgen.policy import INGRESS, Operation, Policy, PolicyError

SECURITY_API = "security.istio.io/v1"
#: The service account of the ingress gateway `istioctl install` makes; a Helm-installed gateway's is
#: named after its release (e.g. `cluster.local/ns/istio-ingress/sa/istio-ingress`).
DEFAULT_INGRESS_PRINCIPAL = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
#: The local dev issuer: the `iss` every token carries must be the one identity was started with.
DEFAULT_ISSUER = "http://127.0.0.1:9000"
#: Where a sidecar (or istiod) fetches identity's keys inside the cluster.
DEFAULT_JWKS_URI = "http://identity.todo-suite.svc.cluster.local:9000/jwks"
#: The workloads that validate identity's JWTs. Not the gateway (in `phantom` it receives opaque tokens,
#: which a RequestAuthentication would refuse) and not identity (the issuer checks its own tokens).
DEFAULT_JWT_WORKLOADS = ("todos", "shares", "reminders")


@dataclass(frozen=True)
class IstioOptions:
    """What the policy does not say: the edge's identity, and identity's issuer and JWKS URL."""

    ingress_principal: str = DEFAULT_INGRESS_PRINCIPAL
    issuer: str = DEFAULT_ISSUER
    jwks_uri: str = DEFAULT_JWKS_URI
    jwt_workloads: tuple[str, ...] = DEFAULT_JWT_WORKLOADS
    #: Each workload's port (its Service's targetPort): where its Sidecar takes traffic for the app's socket.
    app_ports: Mapping[str, int] = field(default_factory=lambda: dict(PORTS))


def _metadata(policy: Policy, name: str) -> dict[str, str]:
    return {"name": name, "namespace": policy.namespace}


def _selector(workload: str) -> dict[str, Any]:
    return {"matchLabels": {"app": workload}}


def _operation(operation: Operation) -> dict[str, Any]:
    # Our path syntax is Istio's: `/x` exact, `/x/*` prefix, `{*}`/`{**}` templates.
    spec: dict[str, Any] = {}
    if operation.methods:
        spec["methods"] = list(operation.methods)
    spec["paths"] = list(operation.paths)
    return {"operation": spec}


def describe_operation(operation: Operation) -> str:
    methods = ", ".join(operation.methods) if operation.methods else "any method"
    return f"{methods} {', '.join(operation.paths)}"


def peer_authentication(policy: Policy) -> dict[str, Any]:
    """Mutual TLS required for every workload of the namespace (no plaintext from anywhere)."""
    return {
        "apiVersion": SECURITY_API,
        "kind": "PeerAuthentication",
        "metadata": _metadata(policy, "default"),
        "spec": {"mtls": {"mode": "STRICT"}},
    }


def authorization_policy(policy: Policy, workload: str, options: IstioOptions) -> dict[str, Any]:
    """The workload's rules as an ALLOW AuthorizationPolicy; with no rule, one that allows nothing."""
    rules = []
    for rule in policy.rules(workload):
        principals = [
            options.ingress_principal if caller == INGRESS else policy.istio_principal(caller)
            for caller in rule.callers
        ]
        rules.append({"from": [{"source": {"principals": principals}}], "to": [_operation(op) for op in rule.to]})
    spec: dict[str, Any] = {"selector": _selector(workload), "action": "ALLOW"}
    if rules:
        spec["rules"] = rules
    return {
        "apiVersion": SECURITY_API,
        "kind": "AuthorizationPolicy",
        "metadata": _metadata(policy, workload),
        "spec": spec,
    }


def request_authentication(policy: Policy, workload: str, options: IstioOptions) -> dict[str, Any]:
    """Tokens in `Authorization: Bearer` must be identity's, validly signed and unexpired; `aud` is left to
    the service (its setting). A request with no token passes here: the service answers it 401."""
    rule = {"issuer": options.issuer, "jwksUri": options.jwks_uri, "forwardOriginalToken": True}
    return {
        "apiVersion": SECURITY_API,
        "kind": "RequestAuthentication",
        "metadata": _metadata(policy, workload),
        "spec": {"selector": _selector(workload), "jwtRules": [rule]},
    }


def claims_policy(policy: Policy, workload: str, options: IstioOptions) -> dict[str, Any] | None:
    """DENY, for each peer rule of `workload`: the same callers and operations, when the request carries a JWT
    of identity (`requestPrincipals` `<issuer>/*`: the sidecar validated it, RequestAuthentication) whose
    `aud` does not name the workload. DENY, not ALLOW: Istio ORs ALLOW policies, so a second ALLOW would
    widen what the peer policy allows; a DENY can only narrow it. A request without a token is left to the
    app, which answers 401 with its RFC 6750 challenge. None for a workload nobody may call (nothing to narrow)."""
    audience = workload  # AUTHZ_AUDIENCE defaults to the service's name (authz.AuthzSettings.for_service)
    rules = []
    for rule in policy.rules(workload):
        principals = [
            options.ingress_principal if caller == INGRESS else policy.istio_principal(caller)
            for caller in rule.callers
        ]
        rules.append(
            {
                "from": [{"source": {"principals": principals, "requestPrincipals": [f"{options.issuer}/*"]}}],
                "to": [_operation(op) for op in rule.to],
                "when": [{"key": "request.auth.claims[aud]", "notValues": [audience]}],
            }
        )
    if not rules:
        return None
    return {
        "apiVersion": SECURITY_API,
        "kind": "AuthorizationPolicy",
        "metadata": _metadata(policy, f"{workload}-token-audience"),
        "spec": {"selector": _selector(workload), "action": "DENY", "rules": rules},
    }


def _kustomization(resources: list[str], patches: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": resources,
    }
    if patches:
        doc["patches"] = patches
    return doc


def _injection_patch(policy: Policy) -> dict[str, Any]:
    # Only the suite's own Deployments: PostgreSQL and the mail sink stay out of the mesh unless asked.
    return {
        "target": {"kind": "Deployment", "labelSelector": f"app in ({','.join(policy.workloads)})"},
        "patch": '- op: add\n  path: /spec/template/metadata/labels/sidecar.istio.io~1inject\n  value: "true"\n',
    }


def _rules_comment(policy: Policy, workload: str, options: IstioOptions) -> list[str]:
    rules = policy.rules(workload)
    if not rules:
        return [
            f"Nobody may call {workload}: an ALLOW policy with no rule matches nothing, so every request is denied."
        ]
    lines = [f"{workload} accepts only (everything else is denied):"]
    for rule in rules:
        names = ", ".join(f"the edge ({options.ingress_principal})" if c == INGRESS else c for c in rule.callers)
        lines += [f"  from {names}:"] + [f"    {describe_operation(op)}" for op in rule.to]
    return lines


def mesh_component(policy: Policy, options: IstioOptions) -> dict[str, str]:
    """`k8s/components/mesh/`: file name -> text."""
    header = comment(GENERATED)
    files = {
        "peer-authentication.yaml": header
        + comment("Every workload in the namespace accepts mutual TLS only.")
        + dump_yaml([peer_authentication(policy)])
    }
    for workload in policy.workloads:
        files[f"authorization-policy-{workload}.yaml"] = (
            header
            + comment(*_rules_comment(policy, workload, options))
            + dump_yaml([authorization_policy(policy, workload, options)])
        )
    for workload in sidecar.socket_workloads(policy):
        port = options.app_ports.get(workload)
        if port is None:
            raise PolicyError(f"Sidecar for {workload!r}: no port known for it (IstioOptions.app_ports)")
        files[f"sidecar-{workload}.yaml"] = (
            header
            + comment(
                f"The sidecar of {workload} hands what arrives on port {port} to the app's Unix socket,",
                "the app's only listener: nothing in the pod reaches the app but through the sidecar.",
            )
            + dump_yaml([sidecar.sidecar(policy, workload, port)])
        )
    resources = sorted(files)
    patches = [_injection_patch(policy), *sidecar.deployment_patches(policy)]
    files["kustomization.yaml"] = (
        header
        + comment(
            "Istio for the suite: sidecars, mutual TLS only, and the peer policy as one AuthorizationPolicy per",
            "workload (default deny); the apps the edge never calls on a Unix socket shared with their sidecar",
            "only (a Sidecar each, and the patches below). See README.md here and docs/mesh.md.",
        )
        + dump_yaml([_kustomization(resources, patches)])
    )
    return files


def jwt_component(policy: Policy, options: IstioOptions) -> dict[str, str]:
    """`k8s/components/mesh-jwt/`: file name -> text."""
    header = comment(GENERATED)
    files = {}
    for workload in options.jwt_workloads:
        if workload not in policy.workloads:
            raise PolicyError(f"RequestAuthentication for {workload!r}, which is not a workload of the policy")
        files[f"request-authentication-{workload}.yaml"] = (
            header
            + comment(
                f"The sidecar of {workload} refuses a bearer token that identity did not sign (or that has expired)."
            )
            + dump_yaml([request_authentication(policy, workload, options)])
        )
        claims = claims_policy(policy, workload, options)
        if claims is not None:
            files[f"authorization-policy-{workload}-claims.yaml"] = (
                header
                + comment(
                    f"Claims next to the peer rules: a call to {workload} that the peer policy allows, carrying",
                    f"identity's token, is denied unless the token's `aud` names {workload}.",
                )
                + dump_yaml([claims])
            )
    files["kustomization.yaml"] = (
        header
        + comment(
            "For the modes whose services validate identity's JWTs (passthrough, phantom), with the mesh",
            "component. See README.md here and docs/mesh.md.",
        )
        + dump_yaml([_kustomization(sorted(files))])
    )
    return files


def components(policy: Policy, options: IstioOptions | None = None) -> dict[str, dict[str, str]]:
    """Both components: folder name under k8s/components/ -> file name -> text."""
    options = options or IstioOptions()
    return {"mesh": mesh_component(policy, options), "mesh-jwt": jwt_component(policy, options)}

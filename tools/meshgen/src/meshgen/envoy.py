"""Envoy sidecar configs for the local mesh (Envoy v3 API, static bootstrap files).

Each workload gets up to two Envoys, as `envoy -c FILE --disable-hot-restart --concurrency 1`:

- **inbound** (every workload): the app listens on a Unix socket that only this sidecar uses, and the
  sidecar opens
  - an mTLS listener (client certificate required, signed by the development CA, SPIFFE ID in the
    workload's trust domain) whose RBAC filter is the workload's rules of the peer policy, default deny;
    the app learns its peer from `X-Forwarded-Client-Cert`, set by the sidecar, never by the client;
  - a plaintext probe listener that allows GET on the policy's `probes` paths and nothing else
    (what Istio's agent port 15020 is to the kubelet);
  - for a workload the edge may call (`from: [ingress]`) and given a port, a plaintext public listener
    on loopback TCP with the `ingress` rules, any client: the local stand-in for an ingress gateway.
- **outbound** (every workload that may call another): one plaintext listener per destination; the app
  sends its request for `http://<destination>/...` there, and the sidecar calls the destination's inbound
  sidecar with mTLS, presenting this workload's certificate and accepting only the destination's SPIFFE ID.

Every listener but the public ones, and every admin interface, is a Unix socket of mode 0600 in one
folder of mode 0700 (`<run dir>/sockets`): the folder is the local stand-in for a pod's network
namespace. Another user of the machine cannot connect to any of them (connect(2) needs write permission
on the socket and search permission on the folder), so none of them can be used to speak as a workload;
between the suite's own processes, which share a user, mTLS and the RBAC filter tell workloads apart.

The RBAC filter is built the way Istio compiles an AuthorizationPolicy: a policy per rule, principals
matched on the peer certificate's URI SAN (`authenticated.principal_name`), permissions as method AND
path, where a path is `url_path` exact/prefix (the query string ignored) or an Envoy URI template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshgen.output import write_yaml
from meshgen.pki import PkiFiles
from meshgen.policy import INGRESS, Operation, Policy, path_kind

TYPES = "type.googleapis.com/envoy.extensions"
LOOPBACK = "127.0.0.1"
#: Where the local mesh puts things by default (git-ignored with the rest of .run/).
DEFAULT_RUN_DIR = Path(".run/mesh")
#: Every socket of the mesh: only its owner (the user running the suite) may connect. Envoy sets it on its
#: listeners (`Pipe.mode`); devstack binds the apps' sockets with it.
SOCKET_MODE = 0o600
#: The folder of the sockets: only its owner may even look up a path in it.
SOCKETS_DIR_MODE = 0o700
#: sun_path is 108 bytes on Linux, the terminating NUL included (unix(7)).
MAX_SOCKET_PATH = 107
#: The local contract's public ports (docs/architecture.md): web, gateway and identity face browsers and CLIs.
DEFAULT_INGRESS_PORTS = {"gateway": 8080, "identity": 9000, "web": 8000}
#: `%DOWNSTREAM_PEER_URI_SAN%` is the caller's SPIFFE ID; `%RESPONSE_CODE_DETAILS%` says why a call was
#: refused (`rbac_access_denied_matched_policy[none]`). Never a header that could hold a token.
ACCESS_LOG = (
    "[%START_TIME%] %DOWNSTREAM_PEER_URI_SAN% %REQ(:METHOD)% %REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)% "
    "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %DURATION%ms\n"
)


@dataclass(frozen=True)
class Layout:
    """Where the local sidecars listen and what they reach: the runtime picks it, the generator obeys.

    Every address is a Unix socket (`sockets` are the apps' own) except the public `ingress` ports.
    `admin` is keyed `<workload>-inbound` / `<workload>-outbound`; `outbound` by (caller, destination).
    A workload missing from `ingress` gets no public listener even if the policy lets the edge call it.
    """

    pki: PkiFiles
    sockets: Mapping[str, Path]
    inbound: Mapping[str, Path]
    probe: Mapping[str, Path]
    outbound: Mapping[tuple[str, str], Path]
    admin: Mapping[str, Path]
    ingress: Mapping[str, int] = field(default_factory=dict)

    def all_sockets(self) -> list[Path]:
        """Every Unix socket of the layout: the apps' and the sidecars'."""
        return [*self.sockets.values(), *self.inbound.values(), *self.probe.values(), *self.outbound.values(),
                *self.admin.values()]  # fmt: skip


def default_layout(
    policy: Policy, run_dir: Path = DEFAULT_RUN_DIR, *, ingress_ports: Mapping[str, int] = DEFAULT_INGRESS_PORTS
) -> Layout:
    """All sockets in `run_dir/sockets`: `<w>.sock` the app, `<w>-mtls.sock`, `<w>-probes.sock`,
    `<w>-to-<d>.sock` the outbound listener for destination d, `<w>-{inbound,outbound}-admin.sock`."""
    run_dir = run_dir.absolute()
    folder = run_dir / "sockets"
    layout = Layout(
        pki=PkiFiles(run_dir / "pki"),
        sockets={w: folder / f"{w}.sock" for w in policy.workloads},
        inbound={w: folder / f"{w}-mtls.sock" for w in policy.workloads},
        probe={w: folder / f"{w}-probes.sock" for w in policy.workloads},
        outbound={(w, d): folder / f"{w}-to-{d}.sock" for w in policy.workloads for d in policy.destinations_of(w)},
        admin={
            f"{w}-{side}": folder / f"{w}-{side}-admin.sock"
            for w in policy.workloads
            for side in ("inbound", "outbound")
        },
        ingress={w: p for w, p in ingress_ports.items() if w in policy.ingress_services()},
    )
    too_long = [str(p) for p in layout.all_sockets() if len(str(p).encode()) > MAX_SOCKET_PATH]
    if too_long:
        raise ValueError(
            f"Unix socket paths are limited to {MAX_SOCKET_PATH} bytes (unix(7)); run the mesh from a shorter "
            f"folder than {run_dir}: {too_long[0]}"
        )
    return layout


def _extension(name: str, type_name: str, **config: Any) -> dict[str, Any]:
    """A named extension with its typed config (`type_name` is relative to envoy.extensions)."""
    return {"name": name, "typed_config": {"@type": f"{TYPES}.{type_name}", **config}}


# --- RBAC -----------------------------------------------------------------------------------------------


def _path_matcher(path: str) -> dict[str, Any]:
    kind = path_kind(path)
    if kind == "exact":
        return {"url_path": {"path": {"exact": path}}}
    if kind == "prefix":
        return {"url_path": {"path": {"prefix": path.removesuffix("*")}}}
    # Istio turns `{*}`/`{**}` into Envoy's `*`/`**` the same way.
    template = path.replace("{**}", "**").replace("{*}", "*")
    matcher = "envoy.path.match.uri_template.uri_template_matcher"
    config = "path.match.uri_template.v3.UriTemplateMatchConfig"
    return {"uri_template": _extension(matcher, config, path_template=template)}


def permission(operation: Operation) -> dict[str, Any]:
    """An RBAC permission: one of the methods (if any are named) AND one of the paths."""
    rules: list[dict[str, Any]] = []
    if operation.methods:
        methods = [{"header": {"name": ":method", "string_match": {"exact": m}}} for m in operation.methods]
        rules.append({"or_rules": {"rules": methods}})
    rules.append({"or_rules": {"rules": [_path_matcher(p) for p in operation.paths]}})
    return {"and_rules": {"rules": rules}}


def _peer(spiffe_id: str) -> dict[str, Any]:
    # principal_name is matched against the URI SAN first: exactly what Istio generates for `principals`.
    return {"authenticated": {"principal_name": {"exact": spiffe_id}}}


def rbac_policies(policy: Policy, service: str, *, ingress: bool = False) -> dict[str, Any]:
    """The RBAC policies of one listener of `service`: its mesh rules (callers matched by SPIFFE ID), or
    with `ingress=True` its edge rules (any client). No rule: an empty map, which allows nothing."""
    policies: dict[str, Any] = {}
    for i, rule in enumerate(policy.rules(service)):
        callers = [c for c in rule.callers if (c == INGRESS) == ingress]
        if not callers:
            continue
        principals = [{"any": True}] if ingress else [_peer(policy.spiffe_id(c)) for c in callers]
        policies[f"{service}-rule-{i}-from-{'-'.join(callers)}"] = {
            "permissions": [permission(op) for op in rule.to],
            "principals": principals,
        }
    return policies


def rbac_filter(policies: dict[str, Any]) -> dict[str, Any]:
    """Envoy's RBAC HTTP filter, action ALLOW: a request no policy matches gets 403."""
    return _extension(
        "envoy.filters.http.rbac", "filters.http.rbac.v3.RBAC", rules={"action": "ALLOW", "policies": policies}
    )


def probe_policies(policy: Policy) -> dict[str, Any]:
    if not policy.probes:
        return {}
    operation = Operation(methods=("GET",), paths=policy.probes)
    return {"probes": {"permissions": [permission(operation)], "principals": [{"any": True}]}}


# --- building blocks --------------------------------------------------------------------------------------


def _socket_address(port: int, host: str = LOOPBACK) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _pipe(path: Path, *, listen: bool = True) -> dict[str, Any]:
    """A Unix socket address; Envoy chmods a listener's socket to `SOCKET_MODE` right after bind(2), while
    the 0700 folder already keeps other users out (so there is no window in which they could connect)."""
    pipe: dict[str, Any] = {"path": str(path)}
    if listen:
        pipe["mode"] = SOCKET_MODE
    return {"pipe": pipe}


def _cluster(name: str, address: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
        **extra,
    }


_ACCESS_LOG = _extension(
    "envoy.access_loggers.stdout",
    "access_loggers.stream.v3.StdoutAccessLog",
    log_format={
        "text_format_source": {"inline_string": ACCESS_LOG},
        "formatters": [
            _extension("envoy.formatter.req_without_query", "formatter.req_without_query.v3.ReqWithoutQuery")
        ],
    },
)
_ROUTER = _extension("envoy.filters.http.router", "filters.http.router.v3.Router")


def _http_connection_manager(
    stat_prefix: str, cluster: str, http_filters: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    everything_to_cluster = {"match": {"prefix": "/"}, "route": {"cluster": cluster}}
    return _extension(
        "envoy.filters.network.http_connection_manager",
        "filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix=stat_prefix,
        codec_type="AUTO",
        # Match what the app will route: dot segments resolved, `//` merged, `%2F` refused (it would
        # let `/todos/x%2Fgrants%2Fy` be one segment to the policy and three to a lenient app).
        normalize_path=True,
        merge_slashes=True,
        path_with_escaped_slashes_action="REJECT_REQUEST",
        access_log=[_ACCESS_LOG],
        route_config={
            "name": stat_prefix,
            "virtual_hosts": [{"name": stat_prefix, "domains": ["*"], "routes": [everything_to_cluster]}],
        },
        http_filters=[*http_filters, _ROUTER],
        **extra,
    )


def _listener(name: str, address: dict[str, Any], hcm: dict[str, Any], *, tls: dict | None = None):
    chain: dict[str, Any] = {"filters": [hcm]}
    if tls is not None:
        chain["transport_socket"] = tls
    return {"name": name, "address": address, "filter_chains": [chain]}


def _tls_context(layout: Layout, workload: str, peer_san: dict[str, str]) -> dict[str, Any]:
    return {
        # TLS 1.3 only; Envoy's client side would otherwise stop at 1.2.
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"},
        "tls_certificates": [
            {
                "certificate_chain": {"filename": str(layout.pki.certificate(workload))},
                "private_key": {"filename": str(layout.pki.key(workload))},
            }
        ],
        "validation_context": {
            "trusted_ca": {"filename": str(layout.pki.ca)},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": peer_san}],
        },
    }


def _bootstrap(node: str, cluster: str, admin: Path, listeners: list, clusters: list) -> dict[str, Any]:
    return {
        "node": {"id": node, "cluster": cluster},
        # The admin interface can drain, reconfigure logging or stop the Envoy: a socket like the rest.
        "admin": {"address": _pipe(admin)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        # Without a limit Envoy warns at start; a sidecar on a laptop needs few connections.
        "overload_manager": {
            "resource_monitors": [
                _extension(
                    "envoy.resource_monitors.global_downstream_max_connections",
                    "resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                    max_active_downstream_connections=1024,
                )
            ]
        },
    }


# --- the two configs --------------------------------------------------------------------------------------


def inbound_config(policy: Policy, service: str, layout: Layout) -> dict[str, Any]:
    """The inbound sidecar of `service`: mTLS + RBAC, probes, and the edge listener where there is one."""
    trust_domain_peers = {"prefix": f"spiffe://{policy.trust_domain}/"}
    mtls = _extension(
        "envoy.transport_sockets.tls",
        "transport_sockets.tls.v3.DownstreamTlsContext",
        require_client_certificate=True,
        common_tls_context={**_tls_context(layout, service, trust_domain_peers), "alpn_protocols": ["h2", "http/1.1"]},
    )
    mesh_hcm = _http_connection_manager(
        f"inbound_{service}",
        "app",
        [rbac_filter(rbac_policies(policy, service))],
        # The app's only source of its peer: the sidecar's word, whatever header the client sent.
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"subject": True, "uri": True},
    )
    probes_hcm = _http_connection_manager(
        f"probes_{service}", "app", [rbac_filter(probe_policies(policy))], forward_client_cert_details="SANITIZE"
    )
    listeners = [
        _listener(f"{service}_mtls", _pipe(layout.inbound[service]), mesh_hcm, tls=mtls),
        _listener(f"{service}_probes", _pipe(layout.probe[service]), probes_hcm),
    ]
    if service in layout.ingress and INGRESS in policy.callers_of(service):
        edge_hcm = _http_connection_manager(
            f"ingress_{service}",
            "app",
            [rbac_filter(rbac_policies(policy, service, ingress=True))],
            forward_client_cert_details="SANITIZE",
        )
        listeners.append(_listener(f"{service}_ingress", _socket_address(layout.ingress[service]), edge_hcm))
    app = _cluster("app", _pipe(layout.sockets[service], listen=False))
    return _bootstrap(f"{service}-inbound", service, layout.admin[f"{service}-inbound"], listeners, [app])


def outbound_config(policy: Policy, workload: str, layout: Layout) -> dict[str, Any]:
    """The outbound sidecar of `workload`: a listener (Unix socket) per destination the policy lets it call."""
    listeners, clusters = [], []
    for destination in policy.destinations_of(workload):
        upstream_tls = _extension(
            "envoy.transport_sockets.tls",
            "transport_sockets.tls.v3.UpstreamTlsContext",
            sni=destination,
            common_tls_context={
                **_tls_context(layout, workload, {"exact": policy.spiffe_id(destination)}),
                "alpn_protocols": ["h2"],
            },
        )
        h2 = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": f"{TYPES}.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
        clusters.append(
            _cluster(
                destination,
                _pipe(layout.inbound[destination], listen=False),
                transport_socket=upstream_tls,
                typed_extension_protocol_options=h2,
            )
        )
        hcm = _http_connection_manager(f"outbound_{workload}_to_{destination}", destination, [])
        listeners.append(_listener(f"to_{destination}", _pipe(layout.outbound[(workload, destination)]), hcm))
    return _bootstrap(f"{workload}-outbound", workload, layout.admin[f"{workload}-outbound"], listeners, clusters)


def envoy_configs(policy: Policy, layout: Layout) -> dict[str, dict[str, Any]]:
    """Every config, by file name: `<workload>-inbound.yaml`, `<workload>-outbound.yaml`."""
    configs = {f"{w}-inbound.yaml": inbound_config(policy, w, layout) for w in policy.workloads}
    for w in policy.workloads:
        if policy.destinations_of(w):
            configs[f"{w}-outbound.yaml"] = outbound_config(policy, w, layout)
    return configs


def write_envoy_configs(policy: Policy, layout: Layout, directory: Path, header: str) -> list[Path]:
    """Write `envoy_configs` into `directory` (made if missing; stale configs there are removed)."""
    directory.mkdir(parents=True, exist_ok=True)
    configs = envoy_configs(policy, layout)
    for old in directory.glob("*.yaml"):
        if old.name not in configs:
            old.unlink()
    return [write_yaml(directory / name, [config], header) for name, config in configs.items()]

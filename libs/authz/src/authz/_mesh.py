"""The mesh peer: which workload's sidecar opened the mTLS connection this request came over.

With the mesh on, every request reaches the app through its inbound sidecar (Envoy locally, Istio's Envoy
in a cluster), which verified the caller's client certificate and replaced any client-sent
`X-Forwarded-Client-Cert` with its own (`SANITIZE_SET`). The caller is the `URI=` of that header: a SPIFFE
ID, `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. Without the mesh the header means
nothing — anyone can send it — and is never read.
Ref: https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from authz import exceptions as exc

#: One XFCC element is `key=value` pairs separated by `;`; values may be double-quoted (and then hold `,;=`).
_PAIR = re.compile(r'\s*([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^;,]*)\s*(;|,|$)')


def xfcc_elements(value: str) -> list[dict[str, str]]:
    """The elements of an `X-Forwarded-Client-Cert` header, each a dict (keys lower-cased, quotes removed).

    Raises MalformedPeer on anything else: a header the sidecar set is always well formed.
    """
    elements: list[dict[str, str]] = [{}]
    position = 0
    while position < len(value):
        match = _PAIR.match(value, position)
        if match is None or match.end() == position:
            raise exc.MalformedPeer("the X-Forwarded-Client-Cert header is not well formed")
        key, raw, separator = match.groups()
        text = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        # Several URI= may appear (one per SAN); the first is kept, as Istio's principal is.
        elements[-1].setdefault(key.lower(), text)
        if separator == ",":
            elements.append({})
        position = match.end()
    if not elements[-1]:
        raise exc.MalformedPeer("the X-Forwarded-Client-Cert header is not well formed")
    return elements


@dataclass(frozen=True)
class Workload:
    """A mesh workload named by its SPIFFE ID."""

    spiffe_id: str
    service_account: str


def peer_of(header: str | None, *, trust_domain: str, namespace: str) -> Workload | None:
    """The workload that called, from the sidecar's XFCC header; None if there is no header.

    The sidecar sets exactly one element (`SANITIZE_SET`); with more (an `APPEND_FORWARD` chain) the last is
    the hop that reached this sidecar. A SPIFFE ID from another trust domain or namespace is refused.
    """
    if header is None:
        return None
    uri = xfcc_elements(header)[-1].get("uri")
    prefix = f"spiffe://{trust_domain}/ns/{namespace}/sa/"
    if not uri or not uri.startswith(prefix) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", uri[len(prefix) :]):
        raise exc.MalformedPeer(f"the mesh peer {uri!r} is not a workload of {trust_domain}/ns/{namespace}")
    return Workload(spiffe_id=uri, service_account=uri[len(prefix) :])

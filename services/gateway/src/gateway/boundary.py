"""The gateway's hot path, as plain ASGI: the token boundary, then the forward.

`EdgeProxy` runs for every `/api/<service>/…` request, in every mode, and is the same in
every mode (the mode is one `EdgeMode` object, gateway/modes/):
1. it finds the routed service and the target from one form of the path, the canonical one
   (authz._canonical), which is also what it forwards and what a service sees, with or without the mesh;
2. it validates the edge token for the routed service (its `aud` must name that service) and refuses
   anything but a user's own token from an edge client;
3. it asks the mode what the service receives, and forwards the request to the service without any
   identity header the client sent (`X-User-Id`, `X-Roles`, `X-Scopes`, the gateway signature headers,
   `X-On-Behalf-Of`, `X-Forwarded-Client-Cert`, in any case and with `_` for `-`) or its `Authorization`;
4. it sends the service's answer back, without its hop-by-hop headers, with the request id.

It is written for the cost per request, which `make bench` holds against a bare aiohttp hop
(docs/performance.md): one pass over the client's headers, a canonical path routed by one match, plain
tuples instead of records, one coroutine per step that may wait.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import string
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry.trace import Span
from starlette.datastructures import Headers

import authz
from gateway.forward import (
    NOT_FORWARDED_REQUEST,
    BodyTooLarge,
    UpstreamFailed,
    as_bytes,
    read_body,
)
from gateway.modes import Edge
from gateway.runtime import Runtime

log = logging.getLogger("gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/"
REALM = "gateway"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: Headers only the gateway sets on a forwarded request; a client's are dropped, whatever it listed.
SET_BY_GATEWAY = frozenset({"authorization", "x-request-id", "x-forwarded-for"})
#: A client's other claims of its own address (RFC 7239 `Forwarded`, `X-Real-IP`): the gateway vouches for
#: the address it saw in `X-Forwarded-For`, and for nothing else.
ADDRESS_CLAIMS = frozenset({"forwarded", "x-real-ip"})
#: What a client's request never carries on: hop-by-hop headers, those only the gateway sets and the identity
#: headers of the modes (authz.IDENTITY_HEADERS). Looked up with `_` read as `-` (servers that take
#: `X_User_Id` for `X-User-Id` exist), one set lookup per header.
NOT_FROM_CLIENT = NOT_FORWARDED_REQUEST | SET_BY_GATEWAY | ADDRESS_CLAIMS | authz.IDENTITY_HEADERS
_NOT_FROM_CLIENT = as_bytes(NOT_FROM_CLIENT)
#: A header name as `_NOT_FROM_CLIENT` holds it: lower case, `_` as `-` (one `bytes.translate`).
_FOLD = bytes.maketrans(string.ascii_uppercase.encode() + b"_", string.ascii_lowercase.encode() + b"-")
#: Span attributes only the edge sets (docs/observability.md): the routed service, and the kind of
#: credential the mode forwards to it (`jwt`, `signed_headers`, ...).
ROUTED_SERVICE = "auth.route.service"
FORWARDED = "auth.forwarded"


def raw_path(scope: Scope) -> str:
    """The path exactly as the client sent it (percent-escapes intact)."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


class BadRoute(Exception):
    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail


#: A segment of a path that is canonical as sent (authz._canonical): only `pchar` (RFC 3986 section 3.3), no
#: escape, not empty, not starting with a dot (so no `.` or `..` segment). Built from authz's own set.
_SEGMENT = "[{}][{}]*".format(*("".join(map(re.escape, sorted(chars))) for chars in
                                 (authz.SEGMENT_CHARS - {"."}, authz.SEGMENT_CHARS)))  # fmt: skip
#: `/api/<service>[/<segment>…][/]`, canonical as sent: what nearly every request is. One match routes it;
#: anything else goes the general way (`authz.canonical_path`), which normalises or refuses it.
_PLAIN_API_PATH = re.compile(rf"/api(/({_SEGMENT})(?:/{_SEGMENT})*/?)")


def route_of(scope: Scope) -> tuple[str, str]:
    """The routed service and the target (`/<service>/…?query`: what is forwarded, signed in extract and seen
    by the service), both from the canonical form of the path the client sent."""
    raw, query = raw_path(scope), scope.get("query_string", b"")
    if len(raw) + len(query) <= REMEMBERED_ROUTE_LENGTH:
        return _remembered_route(raw, query)
    return route(raw, query)


def route(raw: str, query: bytes) -> tuple[str, str]:
    """`route_of` for the path as sent and the query string."""
    plain = _PLAIN_API_PATH.fullmatch(raw)
    if plain is not None:
        service, target = plain.group(2, 1)
    else:
        service, target = _general_route(raw)
    if query:
        try:
            target = f"{target}?{authz.canonical_query(query.decode('latin-1'))}"
        except authz.BadTarget as e:
            raise BadRoute(400, "bad-path", str(e)) from None
    return service, target


#: A route depends on the path and query alone, and a client asks for the same few again and again (`whoami`,
#: `/todos`): the last few thousand are remembered (a refused one never is, it raises), those of short paths
#: only, so what is kept stays small (under a megabyte) whatever a client sends. A remembered route costs a
#: dictionary lookup instead of a match, a fifth of the time (docs/performance.md).
REMEMBERED_ROUTES = 2048
REMEMBERED_ROUTE_LENGTH = 256
_remembered_route = functools.lru_cache(maxsize=REMEMBERED_ROUTES)(route)


def _general_route(raw: str) -> tuple[str, str]:
    """`route_of` for a path that is not canonical as sent (or names no service)."""
    # `/api/<service>` exactly as sent: no escape (`/api/%74odos`), no empty segment (`/api//todos`).
    segments = raw.split("/", 3)[1:3]
    if "%" in "".join(segments):
        raise BadRoute(400, "bad-path", "the service name in the path may not be percent-encoded")
    if len(segments) < 2 or segments[0] != "api" or not segments[1]:
        raise BadRoute(404, "not-found", "no service by that name behind this gateway")
    try:
        path = authz.canonical_path(raw)
    except authz.BadTarget as e:
        raise BadRoute(400, "bad-path", str(e)) from None
    # The canonical path still starts with `/api/<service>` as sent (checked above: no escape, no empty or
    # dot segment there), so the target is the rest of it.
    return segments[1], path[len(API_PREFIX) - 1 :]


async def send_problem(send: Send, status: int, slug: str, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"type": authz.TYPE_PREFIX + slug, "title": _TITLES.get(status, "Error"), "status": status,
                       "detail": detail}).encode()  # fmt: skip
    raw = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 413: "Content Too Large",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


def read_client_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str, list[str], list[tuple[str, str]]]:
    """In one pass over the client's headers (each name one set lookup; docs/performance.md):

    - the request id: the client's first well-formed `X-Request-Id`, else a new one;
    - every Authorization value, in the order sent;
    - the headers that may go on to the service: not hop-by-hop, not one the gateway sets, no identity header.

    A header the client listed in `Connection` (RFC 9110 section 7.6.1) is dropped too. That list comes from
    the client's request alone, before the gateway adds anything: a client's `Connection: authorization`
    drops its own Authorization, never the one the gateway sets."""
    request_id: str | None = None
    authorization: list[str] = []
    kept: list[tuple[str, str]] = []
    listed: set[str] = set()
    for raw_name, raw_value in headers:
        # Compared as bytes, in lower case and with `_` read as `-` (servers that take `X_User_Id` for
        # `X-User-Id` exist); only what is kept is decoded (aiohttp takes `str` headers).
        name = raw_name.translate(_FOLD)
        if name not in _NOT_FROM_CLIENT:
            kept.append((raw_name.decode("latin-1"), raw_value.decode("latin-1")))
        elif name == b"authorization":
            authorization.append(raw_value.decode("latin-1"))
        elif name == b"x-request-id":
            candidate = raw_value.decode("latin-1")
            if request_id is None and _REQUEST_ID.match(candidate):
                request_id = candidate
        elif name == b"connection":
            listed.update(token.strip().lower() for token in raw_value.decode("latin-1").split(","))
    if listed:
        kept = [(name, value) for name, value in kept if name.lower() not in listed]
    # A request id names a request in the logs; it guards nothing, so Python's own generator will do, 128
    # bits as 32 hex digits like a UUID's: `uuid4()` asked the kernel for 16 random bytes, a system call per
    # request (os.urandom).
    return request_id or random.getrandbits(128).to_bytes(16, "big").hex(), authorization, kept


class EdgeProxy:
    """Plain ASGI, the `/api/…` path: the token boundary (route, validate, apply the mode), then the forward
    to the service and its answer back. `runtime` holds the verifiers, the mode and the forwarding pool
    (built in the lifespan), so this object can be created before the app starts."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        #: Whether a span may record this app's requests. When tracing is off nothing wraps the app
        #: (`create_app`), no span ever records, and the span checks are skipped, not asked each time.
        self.traced = True
        self._bases = {service: url.rstrip("/") for service, url in runtime.settings.upstreams.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        # One request id for the whole exchange, refusals included, so a learner can follow any request.
        request_id, authorization, headers = read_client_headers(scope["headers"])
        try:
            service, target = route_of(scope)
        except BadRoute as bad:
            await send_problem(send, bad.status, bad.slug, bad.detail, {"x-request-id": request_id})
            return
        verifier = runtime.verifiers.get(service)
        if verifier is None:
            await send_problem(send, 404, "not-found", "no service by that name behind this gateway",
                               {"x-request-id": request_id})  # fmt: skip
            return
        span = authz.recording_span() if self.traced else None
        if span is not None:
            self._trace_received(span, scope, service)
        try:
            token, principal = await runtime.admit(service, verifier, authz.bearer_token_of(authorization))
        except authz.AuthzError as error:
            await self._refuse(error, scope, receive, send, request_id)
            return
        if span is not None:
            authz.record_principal(span, principal, hop="edge")
        limit = runtime.settings.max_body_bytes
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            await send_problem(send, 413, "content-too-large", f"the body is larger than {limit} bytes",
                               {"x-request-id": request_id})  # fmt: skip
            return
        try:
            outbound = await runtime.mode.outbound(Edge(service, token, principal, scope["method"], target, body))
        except authz.AuthzError as error:
            await self._refuse(error, scope, receive, send, request_id)
            return
        if span is not None:
            # What the mode hands the service (its credential's kind, never the credential itself).
            sent = dict(outbound)
            span.set_attribute(FORWARDED, authz.credential_of(sent.get("authorization"), sent)[0])
        # After the client's headers that may go on, the gateway's: the mode's credential, the request id, and
        # the address the gateway saw. The gateway is the edge: that address is the only one it vouches for
        # (a client-sent X-Forwarded-For would let anyone claim any address).
        headers += outbound
        headers.append(("x-request-id", request_id))
        peer = scope.get("client")
        if peer:
            headers.append(("x-forwarded-for", peer[0]))
        try:
            status, answer_headers, answer = await runtime.forwarder.forward(
                scope["method"], self._bases[service] + target, headers, body
            )
        except UpstreamFailed as failure:
            slug = "upstream-unavailable" if failure.status == 502 else "upstream-timeout"
            await send_problem(send, failure.status, slug, failure.detail, {"x-request-id": request_id})
            return
        # The service's own X-Request-Id and length are not among its headers here (forward.NOT_FORWARDED_RESPONSE).
        answer_headers += [(b"content-length", str(len(answer)).encode()), (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": status, "headers": answer_headers})
        await send({"type": "http.response.body", "body": answer})

    def _trace_received(self, span: Span, scope: Scope, service: str) -> None:
        headers = Headers(scope=scope)
        settings = self.runtime.settings.authz
        authz.record_received(span, headers.get("authorization"), headers, mode=settings.mode.value,
                              contents=settings.trace_token_contents)  # fmt: skip
        span.set_attribute(ROUTED_SERVICE, service)

    @staticmethod
    async def _refuse(error: authz.AuthzError, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        span = authz.recording_span()
        if span is not None:
            authz.record_refusal(span, error, problem_type=authz.TYPE_PREFIX + error.slug)
        response = authz.authz_error_response(error, realm=REALM, instance=scope["path"])
        response.headers["x-request-id"] = request_id
        await response(scope, receive, send)


class GatewayApp:
    """`/api/…` through the edge proxy (the boundary, then the forward); everything else (probes, metrics) to
    `ops`."""

    def __init__(self, api: ASGIApp, ops: ASGIApp) -> None:
        self.api = api
        self.ops = ops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self.api(scope, receive, send)
        else:
            await self.ops(scope, receive, send)

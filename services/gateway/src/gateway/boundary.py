"""The gateway's hot path, as plain ASGI: the token boundary, then the forward.

`TokenBoundaryMiddleware` runs for every `/api/<service>/…` request, in every mode:
1. it removes every identity header the client sent (`X-User-Id`, `X-Roles`, `X-Scopes`, the gateway
   signature headers, `X-On-Behalf-Of`, `X-Forwarded-Client-Cert`, in any case and with `_` for `-`) and
   the client's `Authorization`;
2. it validates the edge token for the routed service (its `aud` must name that service);
3. it asks the mode's strategy what the service receives instead, and hands on to `Proxy`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

import authz
from gateway.forward import NOT_FORWARDED_REQUEST, BodyTooLarge, UpstreamFailed, connection_listed, read_body
from gateway.modes import Edge

log = logging.getLogger("gateway")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

API_PREFIX = "/api/"
REALM = "gateway"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def split_api_path(path: str) -> tuple[str, str]:
    """`/api/todos/123` → (`todos`, `/123`)."""
    service, _, rest = path[len(API_PREFIX) :].partition("/")
    return service, ("/" + rest if rest else "")


def raw_path(scope: Scope) -> str:
    """The path exactly as the client sent it (percent-escapes intact): forwarded as is, never re-decoded,
    so `%3F` stays part of the path and `%2E%2E` cannot climb out of the routed service."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


async def send_problem(send, status: int, slug: str, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"type": authz.TYPE_PREFIX + slug, "title": _TITLES.get(status, "Error"), "status": status,
                       "detail": detail}).encode()  # fmt: skip
    raw = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 413: "Content Too Large",
    502: "Bad Gateway", 504: "Gateway Timeout",
}  # fmt: skip


class TokenBoundaryMiddleware:
    """Pure ASGI middleware: strip, validate, apply the mode. `runtime` holds the verifiers and strategy
    (built in the lifespan), so this object can be created before the app starts."""

    def __init__(self, app: ASGIApp, *, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive, send) -> None:
        # One request id for the whole exchange, refusals included, so a learner can follow any request.
        request_id = _request_id(scope["headers"])
        scope = {**scope, "gateway.request_id": request_id}
        tagged = {"x-request-id": request_id}
        if has_dot_segment(scope["path"]):
            await send_problem(send, 400, "bad-path", "dot segments are not allowed in the path", tagged)
            return
        service, _ = split_api_path(scope["path"])
        verifier = self.runtime.verifiers.get(service)
        if verifier is None:
            await send_problem(send, 404, "not-found", "no service by that name behind this gateway", tagged)
            return
        kept = [(k, v) for k, v in scope["headers"] if not authz.is_identity_header(k.decode("latin-1"))]
        try:
            token = authz.bearer_token(Request(scope))
            token, principal = await self.runtime.admit(verifier, token)
            outbound = await self.runtime.boundary.outbound(Edge(service, token, principal))
        except authz.AuthzError as error:
            response = authz.authz_error_response(error, realm=REALM, instance=scope["path"])
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            return
        headers = [(k, v) for k, v in kept if k != b"authorization"]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in outbound]
        await self.app({**scope, "headers": headers, "gateway.service": service}, receive, send)


class Proxy:
    """Forwards the (already bounded) request to its service and streams the answer back."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive, send) -> None:
        settings = self.runtime.settings
        service, rest = split_api_path(raw_path(scope))
        request_id = scope.get("gateway.request_id") or _request_id(scope["headers"])
        try:
            body = await read_body(receive, settings.max_body_bytes)
        except BodyTooLarge:
            detail = f"the body is larger than {settings.max_body_bytes} bytes"
            await send_problem(send, 413, "content-too-large", detail, {"x-request-id": request_id})
            return
        listed = connection_listed(scope["headers"])
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1") not in NOT_FORWARDED_REQUEST and k.decode("latin-1") not in listed
            and k not in (b"x-request-id", b"x-forwarded-for")
        ]  # fmt: skip
        headers.append(("x-request-id", request_id))
        # The gateway is the edge: the address it saw is the only one it vouches for (a client-sent
        # X-Forwarded-For would let anyone claim any address).
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", client[0]))
        query = scope.get("query_string", b"")
        url = f"{settings.upstreams[service].rstrip('/')}/{service}{rest}" + (
            f"?{query.decode('latin-1')}" if query else ""
        )
        try:
            answer = await self.runtime.forwarder.forward(scope["method"], url, headers, body)
        except UpstreamFailed as failure:
            slug = "upstream-unavailable" if failure.status == 502 else "upstream-timeout"
            await send_problem(send, failure.status, slug, failure.detail, {"x-request-id": request_id})
            return
        out = [(k, v) for k, v in answer.headers if k.lower() != b"x-request-id"]
        out += [(b"content-length", str(len(answer.body)).encode()), (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class GatewayApp:
    """`/api/…` through the boundary and the proxy; everything else (probes, metrics) to `ops`."""

    def __init__(self, api: ASGIApp, ops: ASGIApp) -> None:
        self.api = api
        self.ops = ops

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self.api(scope, receive, send)
        else:
            await self.ops(scope, receive, send)

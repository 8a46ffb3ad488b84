"""Forwarding a request to the service behind the gateway, over one keep-alive aiohttp pool.

aiohttp, not httpx, on this hot path: on these machines a FastAPI gateway forwarding a small GET through a
shared `httpx.AsyncClient` served about a seventh of what it did through an `aiohttp.ClientSession`
(design brief, Performance; encode/httpx#3215). docs/performance.md has our own numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import aiohttp
import yarl

log = logging.getLogger("gateway.forward")

#: RFC 9110 section 7.6.1: connection-specific headers are not forwarded (nor `host`: the upstream's
#: own; nor `content-length`: aiohttp sets it for the body it sends).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade",
})  # fmt: skip
NOT_FORWARDED_REQUEST = HOP_BY_HOP | {"host", "content-length"}
#: Nor `x-request-id`: the gateway tags every answer with its own (boundary.EdgeProxy sets it, with the length).
NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"content-length", "server", "date", "x-request-id"}


def as_bytes(names: Iterable[str]) -> frozenset[bytes]:
    """Header names as the wire and ASGI carry them: the hot path compares bytes instead of decoding every
    header it reads to compare it (docs/performance.md)."""
    return frozenset(name.encode("latin-1") for name in names)


_NOT_FORWARDED_RESPONSE = as_bytes(NOT_FORWARDED_RESPONSE)


class BodyTooLarge(Exception):
    """The request body is larger than the gateway accepts."""


class UpstreamFailed(Exception):
    """The service could not be reached (502) or did not answer in time (504)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class UpstreamResponse(NamedTuple):
    """The service's answer, as the gateway passes it on."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


async def read_body(receive, limit: int) -> bytes:
    """The whole request body, refusing it as soon as it passes `limit` bytes."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise BodyTooLarge()
    if not message.get("more_body", False) or message["type"] == "http.disconnect":
        return body  # all of it in one message: every GET, and most small bodies
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def connection_listed(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names the sender listed in `Connection` (also hop-by-hop, RFC 9110 section 7.6.1), in lower
    case."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(token.strip().lower() for token in value.split(b","))
    return frozenset(listed)


def passed_on(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The service's response headers the client gets: not hop-by-hop, nor any the service listed in
    `Connection`, nor those the gateway sets itself (NOT_FORWARDED_RESPONSE). One pass over them; when the
    service sent `Connection` (rare), a second with what it listed."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower not in _NOT_FORWARDED_RESPONSE:
            out.append((name, value))
        elif lower == b"connection":
            dropped = _NOT_FORWARDED_RESPONSE | connection_listed(headers)
            return [(name, value) for name, value in headers if name.lower() not in dropped]
    return out


class Forwarder:
    """One `aiohttp.ClientSession` for all upstreams reached over TCP: pooled keep-alive connections, bounded
    timeouts; and one more per host that `unix_sockets` sends to a Unix socket (AUTHZ_UNIX_SOCKETS, the
    local mesh's outbound sidecar: authz/_unix_sockets.py), as aiohttp's connector is per socket."""

    def __init__(
        self, *, pool_size: int, timeout: float, connect_timeout: float, unix_sockets: Mapping[str, Path] = {}
    ) -> None:
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._unix_sockets = dict(unix_sockets)
        self._session: aiohttp.ClientSession | None = None
        self._by_host: dict[str, aiohttp.ClientSession] = {}
        self.forwarded = 0

    def _new_session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,  # bodies pass through as the service encoded them
            # A proxy keeps no cookies: a jar would take a Set-Cookie from one user's answer and send it with
            # the next request of anyone to that service.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def start(self) -> None:
        self._session = self._new_session(
            aiohttp.TCPConnector(limit=0, limit_per_host=self._pool_size, keepalive_timeout=60)
        )
        self._by_host = {
            host: self._new_session(aiohttp.UnixConnector(str(path), limit=self._pool_size, keepalive_timeout=60))
            for host, path in self._unix_sockets.items()
        }

    async def close(self) -> None:
        for session in (self._session, *self._by_host.values()):
            if session is not None:
                await session.close()

    async def forward(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> UpstreamResponse:
        assert self._session is not None, "Forwarder.start() was not called"
        # encoded=True: the path goes out byte for byte as the client sent it (no re-quoting, no dot
        # resolution by yarl).
        target = yarl.URL(url, encoded=True)
        session = self._by_host.get(target.host or "", self._session) if self._by_host else self._session
        try:
            async with session.request(
                method, target, headers=headers, data=body or None, allow_redirects=False
            ) as response:
                payload = await response.read()
                self.forwarded += 1
                return UpstreamResponse(response.status, passed_on(response.raw_headers), payload)
        except TimeoutError:
            raise UpstreamFailed(504, "the service did not answer in time") from None
        except aiohttp.ClientConnectorError:
            raise UpstreamFailed(502, "the service could not be reached") from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as e:
            log.warning("forwarding %s %s failed: %r", method, url, e)
            raise UpstreamFailed(502, "the service's answer could not be read") from None

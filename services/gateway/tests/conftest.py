"""Fixtures for the gateway tests: a real echo upstream on loopback, a fake issuer, and a running gateway.

How the pieces fit:

- `upstream` is a real HTTP server (`aiohttp.web` on 127.0.0.1, an ephemeral port) in the test's own event
  loop. The gateway forwards with an `aiohttp.ClientSession`, so only a real socket exercises the forward:
  the pool, keep-alive, timeouts, hop-by-hop headers. It records every request it receives (`.seen`) and
  answers by the last path segment: `slow` (waits past the gateway's timeout), `boom` (500), `large` (a
  200 KiB body), `hop` (hop-by-hop response headers), `drop` (closes the connection without answering),
  `request-id` (echoes `X-Request-Id`, as many services do); anything else is a JSON echo, with the status
  from `?status=` (default 200).
- `issuer` (from the shared plugin `authz.pytest_plugin`, like `problem`) is a `FakeIssuer`: the gateway
  fetches discovery and the JWKS through its `transport`, so `issuer.jwks_requests` counts what the gateway fetched.
- `start_gateway(settings)` runs `create_app(settings, transport=issuer.transport)` and returns an
  `httpx.AsyncClient` over `httpx.ASGITransport`. ASGITransport does not run the ASGI lifespan (and
  `asgi-lifespan` is not installed), so `_lifespan` below sends `lifespan.startup` / `lifespan.shutdown`
  itself, exactly as a server would. Starlette's TestClient would run the lifespan too, but it drives the
  app from a thread with its own event loop, whereas here the echo upstream, the gateway and the test share
  one loop — no threads, and a failed startup re-raises the app's own exception (`ConfigurationError`).
- `client` is a gateway in the mode of the `mode` fixture (default `passthrough`); a test parametrizes
  `mode` directly to run in several modes. `make_settings(mode, **overrides)` builds other settings.
- Routing: `todos` and `shares` go to the echo upstream, `reminders` to a closed loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from authz import AuthzSettings
from authz.pytest_plugin import ALICE_SUB, ISSUER
from authz.testing import FakeIssuer
from gateway.app import create_app
from gateway.settings import Settings
from servicekit.testing import watch_event_loop

#: Autouse: every test fails if the app blocked its event loop (servicekit.loopwatch).
free_event_loop = pytest.fixture(autouse=True)(watch_event_loop)

GATEWAY_URL = "http://gateway.test"
USER_SCOPE = "todos:read todos:write"
#: One key per service for `extract` (the service holds the same one).
EXTRACT_KEYS = {
    "todos": b"todos-extract-key-0123456789abcdef",
    "shares": b"shares-extract-key-0123456789abcdef",
    "reminders": b"reminders-extract-key-0123456789abcd",
}
MODES = ["trust", "passthrough", "reissue", "extract"]
UPSTREAM_TIMEOUT = 0.5
MAX_BODY = 1024
LARGE_BODY = bytes(range(256)) * 800  # 200 KiB, every byte value


@dataclass
class Seen:
    """One request as the echo upstream received it."""

    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent on the wire, without the query
    query: str  # raw query string
    headers: list[tuple[str, str]]  # names lower-cased, in order, duplicates kept
    body: bytes
    peer: tuple[str, int]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]

    @property
    def names(self) -> set[str]:
        return {k for k, _ in self.headers}

    @property
    def header_map(self) -> dict[str, str]:
        return dict(self.headers)


@dataclass
class EchoUpstream:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    #: Set at teardown so a `slow` handler still waiting returns at once.
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def peers(self) -> set[tuple[str, int]]:
        return {s.peer for s in self.seen}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else ("?", 0)
        self.seen.append(
            Seen(
                method=request.method,
                path=request.path,
                raw_path=request.rel_url.raw_path,
                query=request.rel_url.raw_query_string,
                headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.raw_headers],
                body=body,
                peer=(peer[0], peer[1]),
            )
        )
        last = request.path.rstrip("/").rsplit("/", 1)[-1]
        if last == "slow":
            with suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), timeout=10)
            return web.json_response({"slow": True})
        if last == "boom":
            return web.json_response({"error": "the service broke"}, status=500, headers={"X-Service": "echo"})
        if last == "large":
            return web.Response(body=LARGE_BODY, content_type="application/octet-stream")
        if last == "hop":
            headers = {
                "Connection": "x-secret",
                "X-Secret": "hop-by-hop, named in Connection",
                "Keep-Alive": "timeout=5, max=100",
                "Proxy-Authenticate": 'Basic realm="upstream"',
                "X-Kept": "end-to-end",
            }
            return web.json_response({"hop": True}, headers=headers)
        if last == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(text="never sent")
        if last == "request-id":
            return web.json_response({}, headers={"X-Request-Id": request.headers.get("X-Request-Id", "")})
        status = int(request.query.get("status", "200"))
        echo = {"method": request.method, "path": request.path, "query": request.query_string,
                "body": body.decode("utf-8", "replace")}  # fmt: skip
        return web.json_response(echo, status=status, headers={"X-Upstream": "echo", "Cache-Control": "no-store"})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def upstream() -> AsyncIterator[EchoUpstream]:
    echo = EchoUpstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    echo.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield echo
    finally:
        echo.release.set()
        await runner.cleanup()
        sock.close()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on (a port just bound and released)."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture
def extract_keys() -> dict[str, bytes]:
    return dict(EXTRACT_KEYS)


@pytest.fixture
def make_settings(upstream: EchoUpstream, closed_url: str) -> Callable[..., Settings]:
    def make(mode: str = "passthrough", **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "upstreams": {"todos": upstream.url, "shares": upstream.url, "reminders": closed_url},
            "extract_keys": {name: SecretStr(key.decode()) for name, key in EXTRACT_KEYS.items()},
            "upstream_timeout_seconds": UPSTREAM_TIMEOUT,
            "max_body_bytes": MAX_BODY,
            "edge_clients": ["todo-cli"],
            "authz": AuthzSettings(issuer=ISSUER, audience="gateway", mode=mode),
        }
        values.update(overrides)
        return Settings(**values)

    return make


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Run `app`'s ASGI lifespan around the block, as a server would (ASGITransport does not)."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))

    async def answer() -> dict[str, Any]:
        getter = asyncio.ensure_future(from_app.get())
        done, _ = await asyncio.wait({getter, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if task in done:
            task.result()  # the app's own exception
            raise RuntimeError("the app's lifespan ended without answering")
        raise TimeoutError("the app's lifespan did not answer")

    await to_app.put({"type": "lifespan.startup"})
    message = await answer()
    if message["type"] != "lifespan.startup.complete":
        await asyncio.wait_for(task, timeout=10)  # re-raises the startup error (Starlette re-raises it)
        raise RuntimeError(f"startup failed: {message.get('message')}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        message = await answer()
        await asyncio.wait_for(task, timeout=10)
        assert message["type"] == "lifespan.shutdown.complete", message


@pytest.fixture
async def start_gateway(issuer: FakeIssuer) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """`await start_gateway(settings)`: a started gateway and a client for it; stopped at teardown.
    `transport` replaces the issuer's (to make identity fail)."""
    async with AsyncExitStack() as stack:

        async def start(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
            app = create_app(settings, transport=transport or issuer.transport)
            await stack.enter_async_context(_lifespan(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=GATEWAY_URL))

        yield start


@pytest.fixture
def mode() -> str:
    return "passthrough"


@pytest.fixture
async def client(start_gateway, make_settings, mode: str) -> httpx.AsyncClient:
    return await start_gateway(make_settings(mode))


@pytest.fixture
def make_token(issuer: FakeIssuer) -> Callable[..., str]:
    """A user's edge token (alice by default), for every service unless `audience` says otherwise."""

    def make(
        *,
        sub: str = ALICE_SUB,
        username: str | None = "alice",
        audience: str | list[str] = ("todos", "shares", "reminders"),
        scope: str = USER_SCOPE,
        roles: tuple[str, ...] = ("user",),
        **claims: Any,
    ) -> str:
        aud = audience if isinstance(audience, str) else list(audience)
        return issuer.token(sub=sub, username=username, audience=aud, scope=scope, roles=roles, **claims)

    return make


@pytest.fixture
def token(make_token) -> str:
    return make_token()


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def bad_tokens(issuer: FakeIssuer) -> dict[str, str]:
    """Edge tokens the gateway must refuse, each otherwise a valid token for every service."""
    audience = ["todos", "shares", "reminders"]
    forger = FakeIssuer(ISSUER)
    forger.add_key(kid=issuer.kid)  # the real key's kid, a key of the forger's own
    now = int(time.time())
    none_claims = {"iss": ISSUER, "sub": ALICE_SUB, "aud": audience, "iat": now, "exp": now + 300, "jti": "n0ne",
                   "client_id": "todo-cli", "scope": USER_SCOPE, "roles": ["user"]}  # fmt: skip
    return {
        "forged-same-kid": forger.token(sub=ALICE_SUB, audience=audience),
        "forged-unknown-kid": FakeIssuer(ISSUER).token(sub=ALICE_SUB, audience=audience),
        "expired": issuer.token(sub=ALICE_SUB, audience=audience, lifetime=-120),
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': issuer.kid})}.{_b64(none_claims)}.",
        "wrong-issuer": issuer.token(sub=ALICE_SUB, audience=audience, iss="http://evil.test"),
        "garbage": "not-a-jwt",
    }

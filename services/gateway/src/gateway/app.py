"""The gateway: `uvicorn gateway.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

import authz
from authz import Mode
from gateway.boundary import GatewayApp, Proxy, TokenBoundaryMiddleware
from gateway.forward import Forwarder
from gateway.modes import Boundary, boundary_for
from gateway.phantom import PhantomResolver
from gateway.settings import SERVICE_NAME, Settings


class Runtime:
    """What the hot path needs, built in the lifespan: a verifier per routed service (one shared JWKS
    cache), the mode's strategy and the forwarding pool."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self._transport = transport
        self.verifiers: dict[str, authz.TokenVerifier] = {}
        self.boundary: Boundary
        self.forwarder = Forwarder(
            pool_size=settings.pool_size,
            timeout=settings.upstream_timeout_seconds,
            connect_timeout=settings.connect_timeout_seconds,
            unix_sockets=settings.authz.unix_sockets,
        )
        self.http: httpx.AsyncClient | None = None
        self.keys: authz.JwksCache | None = None
        self.phantom: PhantomResolver | None = None

    async def start(self) -> None:
        s = self.settings.authz
        s.check_mode_implemented()
        self.boundary = boundary_for(s.mode, self.settings)
        self.http = httpx.AsyncClient(
            transport=self._transport, mounts=authz.unix_socket_mounts(s.unix_sockets), timeout=s.http_timeout_seconds
        )
        self.keys = authz.JwksCache.from_settings(self.http, s)
        # The edge token must name the service it is routed to: one verifier per audience, one key cache.
        self.verifiers = {
            service: authz.TokenVerifier.from_settings(self.keys, s, audience=self.settings.audience(service))
            for service in self.settings.upstreams
        }
        if s.mode is Mode.PHANTOM:
            self.phantom = await self._phantom_resolver()
        await self.keys.warm()
        await self.forwarder.start()

    async def _phantom_resolver(self) -> PhantomResolver:
        assert self.http is not None
        settings, s = self.settings, self.settings.authz
        if settings.client_secret is None:
            raise authz.ConfigurationError("phantom mode needs GATEWAY_CLIENT_SECRET: the gateway introspects tokens")
        url = settings.introspection_url
        if url is None:
            try:
                discovery = (await self.http.get(s.discovery_url)).raise_for_status().json()
            except (httpx.HTTPError, ValueError) as e:
                raise authz.ConfigurationError(
                    f"phantom mode: identity's discovery ({s.discovery_url}) could not be read for the "
                    f"introspection endpoint: {type(e).__name__}; set GATEWAY_INTROSPECTION_URL or start identity first"
                ) from None
            url = discovery.get("introspection_endpoint") if isinstance(discovery, dict) else None
            if not isinstance(url, str):
                raise authz.ConfigurationError("identity's discovery names no introspection_endpoint")
        return PhantomResolver(
            self.http,
            introspection_url=url,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            max_age_seconds=settings.phantom_cache_seconds,
        )

    async def stop(self) -> None:
        await self.forwarder.close()
        if self.http is not None:
            await self.http.aclose()

    async def admit(self, verifier: authz.TokenVerifier, token: str) -> tuple[str, authz.Principal]:
        """The edge check: the JWT (in phantom, the one the opaque token stands for) verified for the routed
        service, and who it names."""
        if self.phantom is not None:
            token = await self.phantom.resolve(token)
        claims = await verifier.verify(token)
        return token, authz.Principal.from_claims(claims, mode=self.settings.authz.mode)

    def metrics(self) -> dict[str, float]:
        return {
            "gateway_forwarded_total": self.forwarder.forwarded,
            "authz_jwks_fetches_total": self.keys.fetch_count if self.keys else 0,
            # reissue: internal tokens signed (the per-user-and-service cache keeps this far below forwarded).
            "gateway_internal_tokens_minted_total": getattr(getattr(self, "boundary", None), "minted", 0),
            # phantom: introspections of opaque tokens (the cache keeps this at about one per token per window).
            "gateway_introspections_total": self.phantom.introspections if self.phantom else 0,
        }


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> Any:
    """The gateway as one ASGI app: `/api/<service>/…` through the token boundary to the service;
    `/healthz`, `/readyz`, `/metrics` for operators. Nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for the gateway's own calls to identity (tests pass a MockTransport).
    """
    settings = settings or Settings()
    runtime = Runtime(settings, transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await runtime.start()
        try:
            yield {"runtime": runtime}
        finally:
            await runtime.stop()

    ops = FastAPI(title=SERVICE_NAME, summary="The edge: routing and the token-boundary modes", lifespan=lifespan)
    authz.install_problem_handlers(ops, realm=SERVICE_NAME)

    @ops.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get("/readyz", response_model=None)
    def readyz() -> dict[str, str] | authz.ProblemResponse:
        if runtime.keys is None or not runtime.keys.kids:
            return authz.problem(503, "not-ready", "the issuer's keys are not loaded yet")
        return {"status": "ready", "mode": settings.authz.mode.value}

    @ops.get("/.well-known/jwks.json", response_model=None)
    def jwks() -> dict[str, Any] | authz.ProblemResponse:
        """`reissue`: the public key of the gateway's internal tokens (RFC 7517). No such key in other modes."""
        key = getattr(getattr(runtime, "boundary", None), "key", None)
        if key is None:
            return authz.problem(404, "not-found", f"the gateway signs no tokens in {settings.authz.mode.value} mode")
        return key.jwks()

    @ops.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return "".join(f"{name} {value}\n" for name, value in runtime.metrics().items())

    return GatewayApp(TokenBoundaryMiddleware(Proxy(runtime), runtime=runtime), ops)

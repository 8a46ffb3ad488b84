"""What the gateway's hot path needs, built once in the lifespan: the mode, the verifiers, the pool."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

import authz
from gateway.forward import Forwarder
from gateway.modes import BuildContext, Edge, EdgeMode, gateway_mode
from gateway.settings import Settings


class Runtime:
    """A verifier per routed service (one shared JWKS cache), the mode's `EdgeMode` and the forwarding pool.

    Nothing here depends on the mode but the `EdgeMode` object, chosen from the registry in `start`."""

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._transport = transport
        self.verifiers: dict[str, authz.TokenVerifier] = {}
        self.edge_clients = frozenset(settings.edge_clients)
        self.forwarder = Forwarder(
            pool_size=settings.pool_size,
            timeout=settings.upstream_timeout_seconds,
            connect_timeout=settings.connect_timeout_seconds,
            unix_sockets=settings.authz.unix_sockets,
        )
        # The outcome of the edge check, per routed service and JWT, until the token expires (with the same
        # leeway as the verifier's own cache): a repeated token — the common case — then costs one lookup
        # instead of a verification-cache hit (a SHA-256), a new Principal and the checks below, about a
        # tenth of the gateway's CPU per forwarded request (docs/performance.md). Bounded like the
        # verifier's cache; a refusal is never kept. The mode's own step (`admit`) still runs every time.
        self._admitted: dict[str, authz.ExpiringCache[str, authz.Principal]] = {
            service: authz.ExpiringCache(settings.authz.token_cache_size) for service in settings.upstreams
        }
        self._http: httpx.AsyncClient | None = None
        self._keys: authz.JwksCache | None = None
        #: The mode's `EdgeMode`, built in `start` (until then a stand-in that refuses to be used).
        self.mode: EdgeMode = _NotStarted()

    @property
    def ready(self) -> bool:
        return self._keys is not None and bool(self._keys.kids)

    async def start(self) -> None:
        s = self.settings.authz
        if not self.edge_clients:
            raise authz.ConfigurationError(
                "GATEWAY_EDGE_CLIENTS is empty: name the OAuth clients whose users' tokens the edge accepts "
                '(e.g. ["todo-cli"]; the demo realm marks them with edge = true)'
            )
        self._http = httpx.AsyncClient(
            transport=self._transport, mounts=authz.unix_socket_mounts(s.unix_sockets), timeout=s.http_timeout_seconds
        )
        self.mode = await gateway_mode(s.mode).build(BuildContext(self.settings, self._http))
        self._keys = authz.JwksCache.from_settings(self._http, s)
        # The edge token must name the service it is routed to: one verifier per audience, one key cache.
        self.verifiers = {
            service: authz.TokenVerifier.from_settings(self._keys, s, audience=self.settings.audience(service))
            for service in self.settings.upstreams
        }
        await self._keys.warm()
        await self.forwarder.start()

    async def stop(self) -> None:
        await self.forwarder.close()
        if self._http is not None:
            await self._http.aclose()

    async def admit(self, service: str, verifier: authz.TokenVerifier, token: str) -> tuple[str, authz.Principal]:
        """The edge check, the same in every mode: the JWT (what the mode makes of the client's token)
        verified for the routed service, and a user's own token from an edge client — never a service's
        token, a delegated one, or another client's."""
        jwt = await self.mode.admit(token)
        now = self._clock()
        admitted = self._admitted[service]
        principal = admitted.get(jwt, now)
        if principal is None:
            claims = await verifier.verify(jwt)
            principal = self._edge_principal(claims)
            admitted.put(jwt, principal, claims["exp"] + self.settings.authz.leeway_seconds)
        return jwt, principal

    def _edge_principal(self, claims: dict[str, Any]) -> authz.Principal:
        principal = authz.Principal.from_claims(claims, mode=self.settings.authz.mode)
        if principal.is_delegated:
            raise authz.NotAnEdgeToken(
                f"a delegated token (acting: {principal.actor[0]}) is for the service it was exchanged for, "
                "not for the edge; send the user's own token"
            )
        if principal.kind is not authz.Kind.USER:
            raise authz.NotAnEdgeToken(
                f"client {principal.client_id}'s own (client-credentials) token is for calling a service "
                "directly, not through the edge; the edge takes users' tokens"
            )
        if principal.client_id not in self.edge_clients:
            raise authz.NotAnEdgeToken(f"client {principal.client_id!r} is not an edge client of this gateway")
        return principal

    def jwks(self) -> dict[str, Any] | None:
        return self.mode.jwks()

    def metrics(self) -> dict[str, float]:
        return {
            "gateway_forwarded_total": self.forwarder.forwarded,
            "authz_jwks_fetches_total": self._keys.fetch_count if self._keys else 0,
            **self.mode.metrics(),
        }


class _NotStarted:
    """The runtime's mode until `start` builds the real one: anything that needs it fails loudly."""

    async def admit(self, token: str) -> str:
        raise RuntimeError("the gateway has not started")

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        raise RuntimeError("the gateway has not started")

    def metrics(self) -> dict[str, float]:
        return {}

    def jwks(self) -> None:
        raise RuntimeError("the gateway has not started")

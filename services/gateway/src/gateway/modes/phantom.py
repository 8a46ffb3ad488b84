"""The `phantom` mode: clients hold opaque tokens; the gateway swaps each for the JWT it stands for.

The client never sees a JWT, so nothing it holds can be decoded, and nothing it leaks is self-contained:
a stolen opaque token is worth only as long as identity says it is active. The gateway asks identity's
introspection endpoint (RFC 7662) with `Accept: application/jwt`, which answers with the JWT itself —
Curity's phantom-token practice; a plain RFC 7662 JSON answer (`{"active": false}`) means "not active".
Answers are cached for at most `max_age` seconds and never beyond the JWT's own `exp`: that bound is how
long a revoked opaque token can still pass (docs/boundary-modes.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import httpx
import jwt

import authz
from authz import Mode
from gateway.modes._base import BuildContext, Edge, EdgeMode, GatewayMode

JWT_MEDIA_TYPE = "application/jwt"


def looks_like_a_jwt(token: str) -> bool:
    return token.count(".") == 2


class PhantomResolver:
    """Opaque token -> JWT, by introspection, with a short bounded cache."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        introspection_url: str,
        client_id: str,
        client_secret: str,
        max_age_seconds: float,
        cache_size: int = 10_000,
        clock=time.time,
    ) -> None:
        self._http = http
        self._url = introspection_url
        self._auth = (client_id, client_secret)
        self._max_age = max_age_seconds
        self._cache: authz.ExpiringCache[bytes, str] = authz.ExpiringCache(cache_size)
        self._clock = clock
        #: One introspection per opaque token at a time: a burst of requests with a new token costs one call.
        self._pending: dict[bytes, asyncio.Future[str]] = {}
        #: Calls to identity since start: a learner can watch the cache keep this low.
        self.introspections = 0

    async def resolve(self, token: str) -> str:
        if looks_like_a_jwt(token):
            # The point of the mode: JWTs stay inside. One presented at the edge leaked, or is forged.
            raise authz.NotAuthenticated("in phantom mode the gateway accepts opaque tokens only, not JWTs")
        key = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._cache.get(key, now)
        if cached is not None:
            return cached
        task = self._pending.get(key)
        if task is None:
            # A task of its own, not the first caller's: a caller that goes away cancels only its own wait.
            task = asyncio.ensure_future(self._resolve_and_remember(key, token))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(task)

    async def _resolve_and_remember(self, key: bytes, token: str) -> str:
        resolved = await self._introspect(token)
        self._remember(key, resolved)
        return resolved

    def _settled(self, key: bytes, task: asyncio.Future[str]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved, even when every caller has gone: no "never retrieved" warning

    async def _introspect(self, token: str) -> str:
        self.introspections += 1
        try:
            response = await self._http.post(
                self._url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"accept": JWT_MEDIA_TYPE},
            )
        except httpx.HTTPError as e:
            raise authz.IssuerUnavailable(f"identity could not be asked about the token: {type(e).__name__}") from None
        if response.status_code != 200:
            raise authz.IssuerUnavailable(f"identity's introspection answered {response.status_code}")
        if response.headers.get("content-type", "").split(";")[0].strip() != JWT_MEDIA_TYPE:
            raise authz.InactiveToken()
        return response.text.strip()

    def _remember(self, key: bytes, resolved: str) -> None:
        try:
            exp = float(jwt.decode(resolved, options={"verify_signature": False})["exp"])
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            return  # not cached; the verifier that comes next refuses it with the precise reason
        self._cache.put(key, resolved, min(self._clock() + self._max_age, exp))


class ResolveOpaqueTokens:
    """The edge step of phantom: the client's opaque token becomes the JWT it stands for, which is then
    verified like any edge JWT and forwarded."""

    def __init__(self, resolver: PhantomResolver) -> None:
        self.resolver = resolver

    async def admit(self, token: str) -> str:
        return await self.resolver.resolve(token)

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {edge.token}")]

    def metrics(self) -> dict[str, float]:
        # The cache keeps this at about one per token per window.
        return {"gateway_introspections_total": self.resolver.introspections}

    def jwks(self) -> None:
        return None


async def _build(ctx: BuildContext) -> EdgeMode:
    settings, s = ctx.settings, ctx.settings.authz
    if settings.client_secret is None:
        raise authz.ConfigurationError("phantom mode needs GATEWAY_CLIENT_SECRET: the gateway introspects tokens")
    url = settings.introspection_url
    if url is None:
        try:
            url = await authz.discover_endpoint(ctx.http, s.discovery_url, "introspection_endpoint")
        except authz.DiscoveryError as e:
            raise authz.ConfigurationError(
                f"phantom mode: {e}; set GATEWAY_INTROSPECTION_URL or start identity first"
            ) from None
    return ResolveOpaqueTokens(
        PhantomResolver(
            ctx.http,
            introspection_url=url,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            max_age_seconds=settings.phantom_cache_seconds,
        )
    )


MODE = GatewayMode(
    mode=Mode.PHANTOM,
    summary="receives an opaque token, resolves it at identity (RFC 7662 introspection, `Accept: "
    "application/jwt`), caches the JWT for at most a bound and its `exp`, verifies it, forwards it",
    settings=("GATEWAY_CLIENT_SECRET", "GATEWAY_INTROSPECTION_URL"),
    build=_build,
    opaque_edge_tokens=True,
)

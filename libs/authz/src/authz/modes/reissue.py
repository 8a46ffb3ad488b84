"""`reissue`, service side: a user arrives only as the gateway's internal token for this service (its own
issuer and JWKS, `aud` = this service alone, seconds of life). Service and delegated tokens still come
from identity. The two issuers are told apart by `iss`, and each is checked with its own keys."""

from __future__ import annotations

from starlette.requests import Request

from authz import exceptions as exc
from authz._bearer import bearer_token
from authz._jwks import JwksCache
from authz._mesh import Workload
from authz._principal import Kind, Principal, Source
from authz._settings import AuthzSettings, Mode
from authz._verify import TokenVerifier, peek_issuer
from authz.modes._base import InboundContext, ServiceMode, verified


class GatewayTokensForUsers:
    def __init__(self, ctx: InboundContext) -> None:
        s = ctx.settings
        if ctx.http is None:
            raise exc.ConfigurationError("reissue mode needs an http client to fetch the gateway's JWKS")
        assert s.gateway_jwks_url is not None  # _check made sure
        assert s.gateway_issuer is not None
        self._identity = ctx.verifier
        self._gateway_issuer = s.gateway_issuer
        # Not warmed at start-up: the gateway may start after this service; the first internal token
        # fetches it (and an unknown kid after a gateway restart refetches, rate-limited).
        self._gateway_keys = JwksCache(ctx.http, jwks_url=s.gateway_jwks_url,
                                       min_refetch_seconds=s.jwks_min_refetch_seconds)  # fmt: skip
        self._internal = TokenVerifier(
            self._gateway_keys,
            issuer=s.gateway_issuer,
            audience=s.audience,
            algorithms=["ES256"],
            leeway_seconds=s.leeway_seconds,
            token_types=[t.lower() for t in s.token_types],
            cache_size=s.token_cache_size,
        )

    def metrics(self) -> dict[str, float]:
        return {"authz_gateway_jwks_fetches_total": self._gateway_keys.fetch_count}

    async def principal(self, request: Request, peer: Workload | None) -> Principal:
        token = bearer_token(request)
        if peek_issuer(token) == self._gateway_issuer:
            principal = await verified(self._internal, token, Mode.REISSUE, Source.INTERNAL_TOKEN)
            if principal.kind is not Kind.USER or principal.is_delegated:
                raise exc.NotAuthenticated("the gateway's internal tokens stand for users only")
            return principal
        principal = await verified(self._identity, token, Mode.REISSUE)
        if principal.kind is Kind.USER and not principal.is_delegated:
            raise exc.NotAuthenticated("in reissue mode a user's token is accepted only from the gateway")
        return principal


def _check(settings: AuthzSettings) -> None:
    if not (settings.gateway_issuer and settings.gateway_jwks_url):
        raise exc.ConfigurationError(
            "reissue mode needs AUTHZ_GATEWAY_ISSUER and AUTHZ_GATEWAY_JWKS_URL: user tokens come from the gateway"
        )


MODE = ServiceMode(
    mode=Mode.REISSUE,
    summary="the gateway's internal token, minted for this service alone, verified with the gateway's JWKS",
    settings=("AUTHZ_GATEWAY_ISSUER", "AUTHZ_GATEWAY_JWKS_URL"),
    check=_check,
    build=GatewayTokensForUsers,
)

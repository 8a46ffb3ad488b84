"""`passthrough`, service side: the gateway forwards the edge JWT and every service verifies it in full
(signature with identity's JWKS, `iss`, `aud`, `exp`, `typ`)."""

from __future__ import annotations

from starlette.requests import Request

from authz._bearer import bearer_token
from authz._mesh import Workload
from authz._principal import Principal
from authz._settings import AuthzSettings, Mode
from authz.modes._base import InboundContext, ServiceMode, no_metrics, verified


class VerifyEveryToken:
    """Every bearer token is verified in full, whoever sent it."""

    def __init__(self, ctx: InboundContext, mode: Mode) -> None:
        self._verifier = ctx.verifier
        self._mode = mode
        self.metrics = no_metrics

    async def principal(self, request: Request, peer: Workload | None) -> Principal:
        return await verified(self._verifier, bearer_token(request), self._mode)


def _check(settings: AuthzSettings) -> None:
    """Needs nothing beyond identity's keys."""


MODE = ServiceMode(
    mode=Mode.PASSTHROUGH,
    summary="the edge JWT, verified fully against identity's JWKS",
    settings=(),
    check=_check,
    build=lambda ctx: VerifyEveryToken(ctx, Mode.PASSTHROUGH),
)

"""`passthrough`, at the edge: validate the edge JWT (every mode does), forward it unchanged; every service
verifies it again in full (authz/modes/passthrough.py)."""

from __future__ import annotations

from authz import Mode
from gateway.modes._base import BuildContext, EdgeMode, ForwardTheToken, GatewayMode


async def _build(ctx: BuildContext) -> EdgeMode:
    return ForwardTheToken()


MODE = GatewayMode(
    mode=Mode.PASSTHROUGH,
    summary="validates the edge JWT, forwards it unchanged",
    settings=(),
    build=_build,
)

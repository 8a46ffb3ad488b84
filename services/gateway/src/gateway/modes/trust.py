"""`trust`, at the edge: validate the edge JWT (every mode does), forward it unchanged. The services then
decode it without checking its signature — safe only with the mesh (authz/modes/trust.py)."""

from __future__ import annotations

from authz import Mode
from gateway.modes._base import BuildContext, EdgeMode, ForwardTheToken, GatewayMode


async def _build(ctx: BuildContext) -> EdgeMode:
    return ForwardTheToken()


MODE = GatewayMode(
    mode=Mode.TRUST,
    summary="validates the edge JWT, forwards it unchanged",
    settings=(),
    build=_build,
)

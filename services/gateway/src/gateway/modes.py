"""The five token-boundary modes, as the gateway applies them: one small strategy object each.

Every mode first validates the edge token for the routed service (TokenBoundaryMiddleware); a strategy
then says what the service receives instead. docs/boundary-modes.md has the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import authz
from authz import Kind, Mode, Principal
from gateway.reissue import GatewayKey, ReissueToken


@dataclass(frozen=True)
class Edge:
    """A request that passed the edge: the routed service, the token as received, who it is for."""

    service: str
    token: str
    principal: Principal


class Boundary(Protocol):
    """What crosses the boundary to the service, for one mode."""

    mode: Mode

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        """The headers that carry the caller to the service (the client's Authorization is already gone)."""
        ...


class ForwardToken:
    """`trust`, `passthrough` and `phantom`: the edge JWT goes on. The difference is on the service side —
    in `trust` it decodes without verifying, otherwise it verifies fully — and, in `phantom`, at the edge:
    the client sent an opaque token, and the JWT is what identity said it stands for."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {edge.token}")]


class ExtractHeaders:
    """`extract`: the token stops here. The service gets who the user is as headers, signed for it alone
    (a key per service) with a timestamp; no token travels further."""

    mode = Mode.EXTRACT

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = keys

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        p = edge.principal
        if p.kind is not Kind.USER:
            raise authz.WrongPrincipalKind("in extract mode the gateway forwards users' requests only")
        identity = authz.SignedIdentity(
            user_id=p.subject, username=p.username or "", roles=tuple(sorted(p.roles)), scopes=tuple(sorted(p.scopes))
        )
        signed = authz.sign_identity(identity, key=self._keys[edge.service], target=edge.service)
        return list(signed.items())


def boundary_for(mode: Mode, settings: Any) -> Boundary:
    if mode in (Mode.TRUST, Mode.PASSTHROUGH, Mode.PHANTOM):
        # phantom: the opaque edge token was resolved to its JWT at the edge (PhantomResolver); that goes on.
        return ForwardToken(mode)
    if mode is Mode.EXTRACT:
        missing = [s for s in settings.upstreams if s not in settings.extract_keys]
        if missing:
            raise authz.ConfigurationError(f"extract mode needs GATEWAY_EXTRACT_KEYS for {', '.join(missing)}")
        return ExtractHeaders({s: k.get_secret_value().encode() for s, k in settings.extract_keys.items()})
    if mode is Mode.REISSUE:
        if settings.issuer.rstrip("/") == settings.authz.issuer.rstrip("/"):
            raise authz.ConfigurationError("GATEWAY_ISSUER must differ from AUTHZ_ISSUER: services tell them apart")
        key = GatewayKey.from_pem(settings.signing_key.get_secret_value()) if settings.signing_key else None
        return ReissueToken(
            key or GatewayKey.generate(),
            issuer=settings.issuer,
            audiences={s: settings.audience(s) for s in settings.upstreams},
            lifetime_seconds=settings.internal_token_lifetime_seconds,
        )
    raise authz.ConfigurationError(f"the gateway does not implement the {mode.value!r} mode in this build")

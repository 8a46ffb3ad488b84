"""What a boundary mode is at the edge: what the gateway accepts, and what it hands on to the service.

Each mode is one module of this package that defines a `GatewayMode`; `gateway.modes.GATEWAY_MODES` is the
registry, keyed by `Mode`, from which the runtime builds the mode's `EdgeMode` once, at start-up. The rest
of the gateway (EdgeProxy) is the same in every mode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import httpx

from authz import Mode, Principal
from gateway.settings import Settings


class Edge(NamedTuple):
    """A request that passed the edge: the routed service, the token as the gateway verified it (in
    phantom, the JWT behind the client's opaque one), who it is for, and the request as it goes on.

    A NamedTuple, not a frozen dataclass: as immutable, and a third of the cost to build, once per request
    (a frozen dataclass sets each field through object.__setattr__; docs/performance.md)."""

    service: str
    token: str
    principal: Principal
    method: str
    #: `/<service>/…?query` in the canonical form (authz._canonical): what the service receives.
    target: str
    body: bytes


class EdgeMode(Protocol):
    """One mode at the edge, built once per gateway process."""

    async def admit(self, token: str) -> str:
        """The JWT to verify for the routed service, from the token the client sent (in phantom, resolved
        at identity; elsewhere the token itself)."""
        ...

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        """The headers that carry the caller to the service (every client-sent credential is already gone)."""
        ...

    def metrics(self) -> dict[str, float]:
        """The mode's own counters for `/metrics`."""
        ...

    def jwks(self) -> dict[str, list[dict[str, Any]]] | None:
        """The public keys of what the gateway signs in this mode (RFC 7517), or None."""
        ...


@dataclass(frozen=True)
class BuildContext:
    settings: Settings
    #: The gateway's client for identity (discovery, introspection).
    http: httpx.AsyncClient


@dataclass(frozen=True)
class GatewayMode:
    """A boundary mode as the gateway applies it. One per module of `gateway.modes`."""

    mode: Mode
    #: What the gateway does in this mode, in a line (docs and `make up`'s banner).
    summary: str
    #: The `GATEWAY_*` settings a deployment must set for this mode (docs; the Kustomize test checks them).
    settings: tuple[str, ...]
    build: Callable[[BuildContext], Awaitable[EdgeMode]]
    #: The gateway is an issuer in this mode: its own signing key, its JWKS at `/.well-known/jwks.json`,
    #: and services (and identity, for token exchange) that must be told its issuer URL.
    issues_tokens: bool = False
    #: Edge clients get opaque tokens from identity in this mode; only the gateway resolves them.
    opaque_edge_tokens: bool = False


class ForwardTheToken:
    """The edge JWT goes on to the service unchanged (what a service then does with it is its mode's side)."""

    async def admit(self, token: str) -> str:
        return token

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {edge.token}")]

    def metrics(self) -> dict[str, float]:
        return {}

    def jwks(self) -> None:
        return None

"""What a boundary mode is on the service side: how a service learns who calls (docs/boundary-modes.md).

Each mode is one module of this package that defines a `ServiceMode`; `authz.modes.SERVICE_MODES` is the
registry, keyed by `Mode`, from which `Authenticator` picks one at start-up. Nothing else in the library
branches on the mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from starlette.requests import Request

from authz._mesh import Workload
from authz._principal import Principal, Source
from authz._settings import AuthzSettings, Mode
from authz._verify import TokenVerifier


class Inbound(Protocol):
    """One mode's way from a request to the `Principal` (before the mesh peer check, which is the same
    in every mode)."""

    async def principal(self, request: Request, peer: Workload | None) -> Principal:
        """The caller of `request`; `peer` is the mTLS peer when the mesh is on, else None."""
        ...

    def metrics(self) -> dict[str, float]:
        """The mode's own counters for `/metrics` (may be empty)."""
        ...


@dataclass(frozen=True)
class InboundContext:
    """What a mode's `build` gets: the settings, identity's verifier for this audience, an HTTP client."""

    settings: AuthzSettings
    verifier: TokenVerifier
    http: httpx.AsyncClient | None


@dataclass(frozen=True)
class ServiceMode:
    """A boundary mode as a service applies it. One per module of `authz.modes`."""

    mode: Mode
    #: What a service receives in this mode, in a line (docs and `make up`'s banner).
    summary: str
    #: The `AUTHZ_*` settings a deployment must set for this mode (docs; the Kustomize test checks them).
    settings: tuple[str, ...]
    #: Refuses to start (`ConfigurationError`, naming the setting) when something the mode needs is missing.
    check: Callable[[AuthzSettings], None]
    build: Callable[[InboundContext], Inbound]
    #: Without the mesh a service cannot tell who sent a request, and this mode then trusts anyone: it runs
    #: only when the mesh is on or `AUTHZ_INSECURE_DEMO` says this is the demo of what goes wrong.
    unsafe_without_mesh: bool = False
    #: No user token reaches the services: a service acting for a user falls back to its own token plus
    #: `X-On-Behalf-Of` (the trusted subsystem), which the callee honours only in this mode.
    trusted_subsystem: bool = False


async def verified(
    verifier: TokenVerifier, token: str, mode: Mode, source: Source = Source.VERIFIED_TOKEN
) -> Principal:
    """The principal of a token verified in full (signature and claims)."""
    claims = await verifier.verify(token)
    return Principal.from_claims(claims, source=source, mode=mode, token=token)


def no_metrics() -> dict[str, float]:
    return {}

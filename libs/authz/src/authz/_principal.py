"""Who is calling: the `Principal`, built from verified claims."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authz._settings import Mode
from authz.exceptions import MalformedToken


class Kind(enum.StrEnum):
    USER = "user"
    SERVICE = "service"


class Source(enum.StrEnum):
    """How the principal was derived: what a learner reads in `/whoami` to see the boundary mode at work."""

    VERIFIED_TOKEN = "verified_token"
    INTERNAL_TOKEN = "internal_token"
    UNVERIFIED_TOKEN = "unverified_token"
    SIGNED_HEADERS = "signed_headers"
    #: `extract` only: a service's own token plus `X-On-Behalf-Of` (the trusted-subsystem fallback).
    TRUSTED_SUBSYSTEM = "trusted_subsystem"


def _actor_chain(claims: Mapping[str, Any]) -> tuple[str, ...]:
    # RFC 8693 section 4.1: `act` nests, the outermost being the current actor. A malformed `act` is
    # refused: read leniently, it would make a delegated token look like the user's own.
    chain: list[str] = []
    act = claims.get("act")
    while act is not None:
        if not isinstance(act, Mapping) or not isinstance(act.get("sub"), str) or len(chain) >= 16:
            raise MalformedToken("the token's act claim is malformed")
        chain.append(act["sub"])
        act = act.get("act")
    return tuple(chain)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as this service sees it. Handlers take one through an `authz.require(...)` dependency.

    `subject` is the token's `sub`: an opaque, stable id. Never parse it, never show it as a name; use
    `username` for display. `actor` is the delegation chain (current actor first) when a service acts
    for a user (RFC 8693 `act`).
    """

    subject: str
    kind: Kind
    client_id: str | None
    username: str | None = None
    email: str | None = None
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    actor: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    issuer: str | None = None
    token_id: str | None = None
    mesh_peer: str | None = None
    mode: Mode = Mode.PASSTHROUGH
    source: Source = Source.VERIFIED_TOKEN
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: The bearer token itself, for token exchange when this service acts for the caller. Never logged,
    #: never in `whoami()`.
    token: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_claims(
        cls,
        claims: Mapping[str, Any],
        *,
        source: Source = Source.VERIFIED_TOKEN,
        mode: Mode = Mode.PASSTHROUGH,
        mesh_peer: str | None = None,
        token: str | None = None,
    ) -> Principal:
        client_id = claims.get("client_id") or claims.get("azp")
        # RFC 9068 section 2.2: with no resource owner (client credentials) `sub` names the client itself.
        kind = Kind.SERVICE if client_id is not None and claims["sub"] == client_id else Kind.USER
        aud = claims.get("aud", ())
        roles = claims.get("roles", ())
        return cls(
            subject=str(claims["sub"]),
            kind=kind,
            client_id=client_id,
            username=claims.get("preferred_username"),
            email=claims.get("email"),
            roles=frozenset(roles if isinstance(roles, list) else ()),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            actor=_actor_chain(claims),
            audience=(aud,) if isinstance(aud, str) else tuple(aud),
            issuer=claims.get("iss"),
            token_id=claims.get("jti"),
            mesh_peer=mesh_peer,
            mode=mode,
            source=source,
            claims=dict(claims),
            token=token,
        )

    @property
    def is_delegated(self) -> bool:
        return bool(self.actor)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def whoami(self) -> dict[str, Any]:
        """The learner's window into a hop: who this service thinks is calling, and how it knows."""
        return {
            "subject": self.subject,
            "username": self.username,
            "kind": self.kind.value,
            "client_id": self.client_id,
            "roles": sorted(self.roles),
            "scopes": sorted(self.scopes),
            "actor": list(self.actor),
            "audience": list(self.audience),
            "mesh_peer": self.mesh_peer,
            "mode": self.mode.value,
            "source": self.source.value,
        }

"""Minting access tokens (RFC 9068) and checking identity's own tokens (introspection, revocation)."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections import Counter
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, delete
from sqlmodel import Session

from authz import AuthzError, TokenVerifier
from identity.keys import KeyRing, RingKeySource
from identity.models import RevokedToken
from identity.realm import Client, User


class TokenService:
    """Issues access tokens and answers what identity knows about a token it issued.

    Every token is an RFC 9068 JWT access token: `typ: at+jwt`, `iss`, `sub`, `aud`, `exp`, `iat`,
    `jti`, `client_id`, `scope`; user tokens add `roles`, `preferred_username` and `email`.
    Ref: https://www.rfc-editor.org/rfc/rfc9068#section-2.2
    """

    def __init__(self, ring: KeyRing, engine: Engine, *, issuer: str, lifetime: int, clock=time.time):
        self.ring = ring
        self.issuer = issuer
        self.lifetime = lifetime
        self._engine = engine
        self._clock = clock
        #: Tokens issued since start, per (client, grant): a learner can see a service reuse its token.
        self.issued: Counter[tuple[str, str]] = Counter()
        # Introspection answers for tokens of every audience, so no audience check here; no cache
        # either, because revocation must show at once; no leeway: the issuer's clock is the reference.
        self._verifier = TokenVerifier(
            RingKeySource(ring), issuer=issuer, audience=None, leeway_seconds=0, cache_size=0, clock=clock
        )

    def now(self) -> float:
        return self._clock()

    def issue(
        self,
        *,
        client: Client,
        grant: str,
        audiences: tuple[str, ...],
        scopes: frozenset[str],
        user: User | None = None,
        lifetime: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            # RFC 9068 section 2.2: with no resource owner, `sub` identifies the client.
            "sub": user.id if user else client.client_id,
            "aud": audiences[0] if len(audiences) == 1 else list(audiences),
            "exp": now + (lifetime or self.lifetime),
            "iat": now,
            "jti": uuid.uuid4().hex,
            "client_id": client.client_id,
            "scope": " ".join(sorted(scopes)),
        }
        if user:
            claims |= {"roles": list(user.roles), "preferred_username": user.username, "email": user.email}
        claims |= extra or {}
        self.issued[(client.client_id, grant)] += 1
        return self.ring.sign(claims), claims

    def id_token(
        self,
        *,
        client: Client,
        user: User,
        auth_time: float,
        sid: str,
        lifetime: int,
        access_token: str,
        nonce: str | None = None,
    ) -> str:
        """An OpenID Connect ID token (OIDC Core 2): who signed in, when, for which client (`aud`).

        `at_hash` binds it to the access token it came with (section 3.1.3.6); `sid` names the session at
        identity that RP-initiated logout ends. It is never an access token: `typ` is JWT, `aud` the client.
        """
        now = int(self._clock())
        digest = hashlib.sha256(access_token.encode()).digest()  # SHA-256 for ES256 and RS256 alike
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.id,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": now + lifetime,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "auth_time": int(auth_time),
            "sid": sid,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            "preferred_username": user.username,
            "email": user.email,
            # The user's roles, as a list of strings: what a Kubernetes API server maps to groups for RBAC
            # (`--oidc-groups-claim=roles`, docs/kubernetes-oidc.md). Not secret; the access token has them too.
            "roles": list(user.roles),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return self.ring.sign(claims, typ="JWT")

    async def active_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token identity issued that is still good (signed, unexpired, not revoked).

        The revocation lookup is a database read: it runs in a worker thread, never on the event loop.
        """
        try:
            claims = await self._verifier.verify(token)
        except AuthzError:
            return None
        if await anyio.to_thread.run_sync(self.is_revoked, claims["jti"]):
            return None
        return claims

    async def revoke_in_thread(self, claims: dict[str, Any]) -> None:
        await anyio.to_thread.run_sync(self.revoke, claims)

    def revoke(self, claims: dict[str, Any]) -> None:
        with Session(self._engine) as session:
            if session.get(RevokedToken, claims["jti"]) is None:
                session.add(RevokedToken(jti=claims["jti"], expires_at=float(claims["exp"])))
            session.exec(delete(RevokedToken).where(RevokedToken.expires_at < self._clock()))
            session.commit()

    def is_revoked(self, jti: str) -> bool:
        with Session(self._engine) as session:
            return session.get(RevokedToken, jti) is not None

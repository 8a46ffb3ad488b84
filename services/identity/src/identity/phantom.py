"""Opaque access tokens that stand for JWTs: Curity's "phantom token" practice.

A client marked `opaque_access_tokens` gets a random handle instead of its JWT. The gateway trades
the handle for the JWT at introspection (`Accept: application/jwt`) and forwards the JWT inside, so
the JWT — readable by anyone who holds it — never reaches the client.
Ref: https://curity.io/resources/learn/phantom-token-pattern/
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, delete
from sqlmodel import Session

from identity.models import PhantomToken


def _digest(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


class PhantomTokens:
    """Mints opaque handles for JWTs identity issued, and resolves them back.

    The handle says nothing by itself; whether it is still good is the JWT's business (signature, `exp`,
    revocation by `jti`), which `TokenService.active_claims` decides for both forms alike.
    """

    def __init__(self, engine: Engine, *, clock=time.time) -> None:
        self._engine = engine
        self._clock = clock

    def wrap(self, token: str, claims: dict[str, Any]) -> str:
        """Store the JWT under a new handle and return the handle (the client's `access_token`)."""
        handle = secrets.token_urlsafe(32)
        row = PhantomToken(
            handle_sha256=_digest(handle),
            jwt=token,
            jti=claims["jti"],
            client_id=claims["client_id"],
            expires_at=float(claims["exp"]),
        )
        with Session(self._engine) as session:
            session.add(row)
            # Opportunistic pruning, as for revocations: a row outlives its JWT by no more than the next issue.
            session.exec(delete(PhantomToken).where(PhantomToken.expires_at <= self._clock()))
            session.commit()
        return handle

    async def wrap_in_thread(self, token: str, claims: dict[str, Any]) -> str:
        """`wrap` in a worker thread (a database write): what an `async` endpoint calls."""
        return await anyio.to_thread.run_sync(self.wrap, token, claims)

    async def resolve_in_thread(self, handle: str) -> str | None:
        """`resolve` in a worker thread (a database read), skipped for a JWT, which is never a handle."""
        if handle.count(".") == 2:
            return None
        return await anyio.to_thread.run_sync(self.resolve, handle)

    def resolve(self, handle: str) -> str | None:
        """The JWT this handle stands for, or None if it is no handle of ours or its JWT has expired.

        A JWT (or anything else) given here is simply not found: callers use `resolve(t) or t`.
        """
        with Session(self._engine) as session:
            row = session.get(PhantomToken, _digest(handle))
        if row is None or row.expires_at <= self._clock():
            return None
        return row.jwt

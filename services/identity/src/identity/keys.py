"""The signing keys: parsed once per `kid`, rotated publish-first, retired after their tokens expire."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from authz import UnknownKey
from identity.models import SigningKey

log = logging.getLogger("identity.keys")


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    alg: str
    private_key: Any
    public_jwk: dict[str, Any]
    activates_at: float

    @cached_property
    def pyjwk(self) -> jwt.PyJWK:
        return jwt.PyJWK(self.public_jwk)


def _generate(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(kid: str, alg: str, private_key: Any) -> dict[str, Any]:
    jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class KeyRing:
    """Identity's signing keys, loaded from the database and parsed into key objects once.

    Rotation is publish-first: `rotate()` stores a key that appears in the JWKS at once but signs only
    from `activates_at` (now + publish delay). A key stays in the JWKS until every token it could have
    signed has expired: its successor has been active for a token lifetime plus the leeway.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        alg: str,
        publish_delay: float,
        token_lifetime: float,
        leeway: float,
        clock=time.time,
    ) -> None:
        self._engine = engine
        self._alg = alg
        self._publish_delay = publish_delay
        self._retire_after = token_lifetime + leeway
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[LoadedKey] = []  # sorted by activates_at

    def load(self) -> None:
        """Read the keys from the database (parsing only those not yet parsed); make one if there is none."""
        with self._lock, Session(self._engine) as session:
            rows = session.exec(select(SigningKey).order_by(col(SigningKey.activates_at))).all()
            if not rows:
                rows = [self._store(session, activates_at=self._clock())]
                log.info("no signing key found: generated %s", rows[0].kid)
            parsed = {k.kid: k for k in self._keys}
            self._keys = [parsed.get(r.kid) or self._parse(r) for r in rows]

    def rotate(self) -> LoadedKey:
        """Publish a new key now; it starts signing after the publish delay."""
        with self._lock, Session(self._engine) as session:
            row = self._store(session, activates_at=self._clock() + self._publish_delay)
            key = self._parse(row)
            self._keys = sorted([*self._keys, key], key=lambda k: k.activates_at)
        log.info("rotated: key %s published, signs from %.0f", key.kid, key.activates_at)
        return key

    def signing_key(self) -> LoadedKey:
        now = self._clock()
        active = [k for k in self._keys if k.activates_at <= now]
        return active[-1] if active else self._keys[0]

    def published(self) -> list[LoadedKey]:
        """The keys in the JWKS: pending, active, and retiring ones whose tokens may still be alive."""
        now = self._clock()
        keys = self._keys
        return [
            k for i, k in enumerate(keys) if i + 1 == len(keys) or keys[i + 1].activates_at + self._retire_after > now
        ]

    def prune(self) -> int:
        """Delete retired keys from the database; returns how many were removed.

        Reloads first, so a key another instance stored since our last load is judged, not deleted.
        """
        self.load()
        keep = {k.kid for k in self.published()}
        with self._lock, Session(self._engine) as session:
            gone = [row for row in session.exec(select(SigningKey)).all() if row.kid not in keep]
            for row in gone:
                session.delete(row)
            session.commit()
            self._keys = [k for k in self._keys if k.kid in keep]
        return len(gone)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.published()]}

    def find(self, kid: str) -> LoadedKey | None:
        return next((k for k in self.published() if k.kid == kid), None)

    def sign(self, claims: dict[str, Any], *, typ: str = "at+jwt") -> str:
        key = self.signing_key()
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})

    def _store(self, session: Session, *, activates_at: float) -> SigningKey:
        private_key = _generate(self._alg)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        row = SigningKey(
            kid=uuid.uuid4().hex[:16],
            alg=self._alg,
            private_pem=pem,
            created_at=self._clock(),
            activates_at=activates_at,
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        return row

    @staticmethod
    def _parse(row: SigningKey) -> LoadedKey:
        private_key = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
        return LoadedKey(row.kid, row.alg, private_key, _public_jwk(row.kid, row.alg, private_key), row.activates_at)


class RingKeySource:
    """Lets `authz.TokenVerifier` check identity's own tokens against the keys it publishes."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    async def get(self, kid: str) -> jwt.PyJWK:
        key = self._ring.find(kid)
        if key is None:
            raise UnknownKey(f"no published key with kid {kid!r}")
        return key.pyjwk

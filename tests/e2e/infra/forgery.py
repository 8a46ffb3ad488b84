"""Tokens an attacker (or a broken client) might send, built from scratch.

`signed_with_issuer_key` reads identity's real signing key from its database: the only way to make a
token that is validly signed yet expired or mis-addressed, to prove the claim checks themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def signed_with_other_key(like: str, **changes: Any) -> str:
    """Same header (kid included) and claims as `like`, signed by a key the issuer never had."""
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode({**claims_of(like), **changes}, other, algorithm="ES256", headers=header_of(like))


def unsigned(like: str) -> str:
    """`alg: none` (RFC 7519 section 6): a JWT with no signature at all."""
    header = {**header_of(like), "alg": "none"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims_of(like)).encode())}."


def tampered(token: str, **changes: Any) -> str:
    """The original signature over a changed payload."""
    head, _, sig = token.split(".")
    payload = _b64(json.dumps({**claims_of(token), **changes}).encode())
    return f"{head}.{payload}.{sig}"


def issuer_signing_key(database_url: str) -> tuple[str, str, Any]:
    """(kid, alg, private key) of identity's current signing key, read from its database (test-only back door)."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT kid, alg, private_pem FROM signing_keys WHERE activates_at <= :now "
                    "ORDER BY activates_at DESC LIMIT 1"
                ),
                {"now": time.time()},
            ).one()
    finally:
        engine.dispose()
    return row.kid, row.alg, serialization.load_pem_private_key(row.private_pem.encode(), password=None)


def signed_with_issuer_key(database_url: str, claims: dict[str, Any]) -> str:
    """Sign `claims` with identity's current key, read from its database (test-only back door)."""
    kid, alg, key = issuer_signing_key(database_url)
    now = int(time.time())
    full = {"iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(full, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})


def hs256_with_public_key(jwk: dict[str, Any], like: str) -> str:
    """The classic key-confusion attack: HMAC-sign with the issuer's *public* key as the secret."""
    header = {**header_of(like), "alg": "HS256"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims_of(like)).encode())}"
    mac = hmac.new(json.dumps(jwk).encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"

"""Many distinct user tokens for the gateway bench, minted without weakening anything.

The edge accepts only users' tokens from edge clients, and the password grant is slow on purpose (a
password hash per token) and throttled; a bench needs thousands of never-seen tokens. The bench starts its
own suite in a temporary directory, so it holds identity's database: it takes identity's current signing
key from there, once, and signs copies of a real edge token (alice's, from one password grant) that differ
only in `jti`, `iat` and `exp`. To the gateway and the services they are exactly what identity issues. No
endpoint, grant or setting is added or loosened; outside a suite it started itself the bench has no key.
"""

from __future__ import annotations

import time
import uuid

import jwt

from tests.e2e.infra.forgery import issuer_signing_key


def copies_of(
    edge_token: str, database_url: str, count: int, lifetime: int = 300, *, new_subjects: bool = False
) -> list[str]:
    """`count` distinct tokens with `edge_token`'s claims (a new `jti` each), signed by identity's key; with
    `new_subjects`, each for a user of its own (a new `sub`): what `reissue`'s cold path sees (bench.cold)."""
    kid, alg, key = issuer_signing_key(database_url)
    template = jwt.decode(edge_token, options={"verify_signature": False})
    now = int(time.time())
    tokens = []
    for _ in range(count):
        claims = {**template, "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
        if new_subjects:
            claims["sub"] = f"bench-{uuid.uuid4().hex}"
        tokens.append(jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"}))
    return tokens

"""What a JWT signature costs, by algorithm and payload size: the seed book's table, measured here.

    uv run --no-sync python -m bench.jwt_table [--n 50000]

Dan Moore's *Auth Considerations for Kubernetes* times 50,000 signs and 50,000 verifications of a token with
a ~180-character payload and one with a ~1,800-character payload, for HMAC, RSA and ECC (in Ruby). This is the
same experiment with PyJWT on this machine, for the algorithms the suite signs with (ES256: identity and the
gateway; RS256: the other common choice) and, as references, HS256 and EdDSA (Ed25519). Keys are parsed once
(as authz and identity keep them); verification checks the signature, `exp`, `aud` and `iss`. One process,
one thread. A teaching table — what each algorithm and each token size costs — not a race against another
language's run on another machine.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")
PAYLOAD_SIZES = (180, 1800)


@dataclass
class Timing:
    alg: str
    payload_chars: int
    token_chars: int
    n: int
    sign_seconds: float
    verify_seconds: float

    @property
    def sign_us(self) -> float:
        return self.sign_seconds / self.n * 1e6

    @property
    def verify_us(self) -> float:
        return self.verify_seconds / self.n * 1e6


def keys(alg: str) -> tuple[Any, Any]:
    """(signing key, verification key), parsed once."""
    if alg == "HS256":
        secret = secrets.token_bytes(32)
        return secret, secret
    if alg == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return private, private.public_key()


def claims(payload_chars: int) -> dict[str, Any]:
    """Access-token claims whose JSON is about `payload_chars` long (a `groups` list pads the larger one)."""
    now = int(time.time())
    base: dict[str, Any] = {"iss": "http://identity.bench", "sub": "u-7f3c", "aud": "todos", "iat": now,
                            "exp": now + 3600, "scope": "todos:read", "jti": "0" * 16}  # fmt: skip
    size = len(json.dumps(base, separators=(",", ":")))
    if payload_chars > size:
        filler = payload_chars - size - len(',"groups":[]')
        groups = [f"group-{i:04d}" for i in range(max(0, filler) // 13)]
        base["groups"] = groups
    return base


def time_one(alg: str, payload_chars: int, n: int) -> Timing:
    signing, verifying = keys(alg)
    body = claims(payload_chars)
    t = time.perf_counter()
    for _ in range(n):
        token = jwt.encode(body, signing, algorithm=alg)
    sign = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        jwt.decode(token, verifying, algorithms=[alg], audience="todos", issuer="http://identity.bench")
    verify = time.perf_counter() - t
    return Timing(alg, len(json.dumps(body, separators=(",", ":"))), len(token), n, sign, verify)


def run(n: int) -> list[Timing]:
    return [time_one(alg, size, n) for size in PAYLOAD_SIZES for alg in ALGORITHMS]


def print_table(rows: list[Timing]) -> None:
    n = rows[0].n
    print(f"{'algorithm':<9} {'payload':>8} {'token':>6} {f'sign x{n}, s':>14} {f'verify x{n}, s':>16} "
          f"{'sign µs':>8} {'verify µs':>10}")  # fmt: skip
    for r in rows:
        print(f"{r.alg:<9} {r.payload_chars:>8} {r.token_chars:>6} {r.sign_seconds:>14.2f} {r.verify_seconds:>16.2f} "
              f"{r.sign_us:>8.1f} {r.verify_us:>10.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="signs and verifications per cell (the book: 50,000)")
    args = parser.parse_args()
    print_table(run(args.n))


if __name__ == "__main__":
    main()

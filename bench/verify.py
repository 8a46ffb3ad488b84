"""How much does authz's verification cost per request, against raw PyJWT as the baseline?

    uv run python -m bench.verify [--n 3000]

Rows: PyJWT decoding an ES256 token with a pre-parsed key (the floor of any verifier); authz's
`TokenVerifier` on a new token each time (every check, cache miss); and on a repeated token (cache
hit). Medians of several rounds, one process, in-memory keys: no network.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
import jwt

from authz import JwksCache, TokenVerifier
from authz.testing import FakeIssuer


def _median_us(samples: list[float], n: int) -> float:
    return statistics.median(samples) / n * 1e6


async def run(n: int, rounds: int) -> list[tuple[str, float]]:
    issuer = FakeIssuer("http://identity.bench")
    async with httpx.AsyncClient(transport=issuer.transport) as client:
        keys = JwksCache(client, discovery_url=f"{issuer.issuer}/.well-known/openid-configuration")
        verifier = TokenVerifier(keys, issuer=issuer.issuer, audience="todos", cache_size=n * 2)
        nocache = TokenVerifier(keys, issuer=issuer.issuer, audience="todos", cache_size=0)
        tokens = [issuer.token(scope="todos:read") for _ in range(n)]
        public = (await keys.get(issuer.kid)).key
        await verifier.verify(tokens[0])

        raw, cold, warm = [], [], []
        for _ in range(rounds):
            t = time.perf_counter()
            for tok in tokens:
                jwt.decode(tok, public, algorithms=["ES256"], audience="todos", issuer=issuer.issuer)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            for tok in tokens:
                await nocache.verify(tok)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            for _ in range(n):
                await verifier.verify(tokens[0])
            warm.append(time.perf_counter() - t)
    return [
        ("pyjwt.decode ES256 (baseline)", _median_us(raw, n)),
        ("authz verify, new token each time", _median_us(cold, n)),
        ("authz verify, repeated token (cache hit)", _median_us(warm, n)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = asyncio.run(run(args.n, args.rounds))
    base = rows[0][1]
    print(f"{'case':<44} {'µs/token':>9} {'x baseline':>11}")
    for name, us in rows:
        print(f"{name:<44} {us:>9.1f} {us / base:>11.2f}")


if __name__ == "__main__":
    main()

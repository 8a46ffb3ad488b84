"""The cold paths of each boundary mode, against passthrough's new-token case in the same run.

    uv run --no-sync python -m bench.cold [--seconds 3] [--phantom-tokens 150]

One suite per mode (SQLite, free loopback ports), `GET /api/todos/whoami` through the gateway, 16 in flight,
no token ever sent twice, so no cache helps:
- passthrough: a new token per request (the gateway and todos each verify it in full) — the reference;
- reissue: a new *user* per request (the gateway verifies, then signs an internal ES256 token for that user
  and todos, which todos verifies);
- extract: a new token per request (the gateway verifies it and signs the identity headers; todos checks
  that HMAC);
- phantom: a new opaque token per request (the gateway's cache misses: an introspection round trip to
  identity, then the JWT behind it). Opaque tokens come only from identity, one password grant each (slow
  on purpose, throttled), so this pool is small and its window short.
Tokens for the other modes are copies of alice's, signed with identity's key (bench/tokens.py). CPU per
request of the gateway, todos and identity comes from /proc over the timed window.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

import uvloop

from authz import Mode
from bench.gateway import TokenPool, password_token
from bench.hops import Row, load, suite
from bench.tokens import copies_of
from gateway.modes import gateway_mode

#: The baseline first, then every mode whose edge does work per new token (trust does none of its own).
MODES = (Mode.PASSTHROUGH, Mode.REISSUE, Mode.EXTRACT, Mode.PHANTOM)


def what(mode: Mode) -> str:
    """What makes a request cold in `mode`, from what its gateway side does (the registry's flags)."""
    edge = gateway_mode(mode)
    if edge.opaque_edge_tokens:
        return "cache miss per request"
    if edge.issues_tokens:
        return "new user per request"
    return "new token per request"


async def _phantom_pool(token_url: str, count: int) -> TokenPool:
    return TokenPool([await password_token(token_url, "alice") for _ in range(count)])


def cold_row(mode: Mode, seconds: float, phantom_tokens: int) -> Row:
    edge = gateway_mode(mode)
    with suite("sqlite", mode=mode.value) as s, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        token_url = f"{s.url('identity')}/token"
        pids = {name: s.pid(name) for name in ("gateway", "todos", "identity")}
        if edge.opaque_edge_tokens:  # opaque tokens: only identity issues them, one password grant each
            pool = runner.run(_phantom_pool(token_url, phantom_tokens))
        else:
            alice = runner.run(password_token(token_url, "alice"))
            size = int(900 * (seconds + 1.5))  # more than the gateway forwards cold on these machines
            pool = TokenPool(copies_of(alice, s.config.database_url("identity"), size, new_subjects=edge.issues_tokens))
        remaining: Callable[[], int] = lambda: pool.remaining  # noqa: E731
        url = f"{s.url('gateway')}/api/todos/whoami"
        # A short warm-up in phantom: its few tokens are for the timed window.
        warmup = 16 if edge.opaque_edge_tokens else 10**9
        row = runner.run(load(f"{mode.value}: {what(mode)}", url, pool.next_headers, pids, seconds, cap=remaining,
                              warmup_cap=warmup))  # fmt: skip
    row.subject = "gateway"
    return row


def run(seconds: float, phantom_tokens: int) -> list[Row]:
    rows = []
    for mode in MODES:
        print(f"cold path: {mode.value} ...", flush=True)
        rows.append(cold_row(mode, seconds, phantom_tokens))
    for row in rows[1:]:
        row.floor = rows[0]
    return rows


def print_cold(rows: list[Row]) -> None:
    print(f"{'case':<40} {'req/s':>7} {'x passthrough':>14} {'CPU µs/req: gateway':>20} {'x passthrough':>14} "
          f"{'todos':>6} {'identity':>9} {'p50 ms':>7}")  # fmt: skip
    for row in rows:
        rr = row.rate_ratio or 1.0
        cr = row.cpu_ratio or 1.0
        c = row.cpu_us
        print(f"{row.name:<40} {row.rate:>7.0f} {rr:>14.2f} {c['gateway']:>20.0f} {cr:>14.2f} {c['todos']:>6.0f} "
              f"{c['identity']:>9.0f} {row.result.ms(50):>7.2f}")  # fmt: skip
    for row in rows:
        if row.result.capped:
            print(f"note: {row.name}: the token pool ran out after {row.result.requests} timed requests "
                  f"({row.result.seconds:.1f} s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--phantom-tokens", type=int, default=150, help="opaque tokens (one password grant each)")
    args = parser.parse_args()
    print_cold(run(args.seconds, args.phantom_tokens))


if __name__ == "__main__":
    main()

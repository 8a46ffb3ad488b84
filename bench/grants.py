"""identity's token endpoint: grants per second per core, from identity's CPU per grant.

    uv run --no-sync python -m bench.grants [--seconds 3]

Starts the suite (passthrough, SQLite, free loopback ports) and sends `POST /token` back to back (8 in
flight, keep-alive) for each grant in turn, after a 1 s warm-up: client credentials (`reminders`, HTTP
Basic), token exchange (RFC 8693: `shares` exchanging alice's token for a todos token), and the password
grant (`todo-cli` as alice, one at a time, as the login throttle allows; slow on purpose: a password
hash per grant, in identity's worker threads).
identity's CPU (its CPU clock, all threads: bench.procs) over the timed window divided by the grants answered
gives its CPU per grant; one core's worth of it is the grants per second per core (target for client
credentials: >= 1,500).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from dataclasses import dataclass

import aiohttp
import uvloop

from bench import procs
from bench.gateway import password_token
from bench.hops import suite
from devstack.suite import Suite

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
CONCURRENCY = 8
TARGET_CC_PER_CORE = 1500


@dataclass
class Grant:
    name: str
    grants: int
    seconds: float
    cpu_us: float

    @property
    def rate(self) -> float:
        return self.grants / self.seconds

    @property
    def per_core(self) -> float:
        return 1e6 / self.cpu_us if self.cpu_us else 0.0


def basic(client: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()}


async def _post_loop(url: str, form: dict[str, str], headers: dict[str, str], seconds: float,
                     concurrency: int) -> int:  # fmt: skip
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.post(url, data=form, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{form['grant_type']}: {response.status} {await response.text()}")
                done += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done


async def measure(name: str, url: str, form: dict[str, str], headers: dict[str, str], pid: int,
                  seconds: float, concurrency: int = CONCURRENCY) -> Grant:  # fmt: skip
    await _post_loop(url, form, headers, min(1.0, seconds), concurrency)
    before, t = procs.cpu_seconds(pid), time.perf_counter()
    n = await _post_loop(url, form, headers, seconds, concurrency)
    after, wall = procs.cpu_seconds(pid), time.perf_counter() - t
    cpu = (after - before) / n * 1e6 if before is not None and after is not None and n else 0.0
    return Grant(name, n, wall, cpu)


async def run_grants(s: Suite, seconds: float, password_seconds: float) -> list[Grant]:
    url = f"{s.url('identity')}/token"
    pid = s.pid("identity")
    alice = await password_token(url, "alice")
    cc = {"grant_type": "client_credentials", "audience": "todos"}
    exchange = {"grant_type": EXCHANGE, "subject_token": alice, "subject_token_type": ACCESS_TOKEN,
                "audience": "todos", "scope": "todos:read"}  # fmt: skip
    password = {"grant_type": "password", "client_id": "todo-cli", "username": "alice", "password": "alice"}
    return [
        await measure("client credentials", url, cc, basic("reminders", s.secrets["reminders"]), pid, seconds),
        await measure("token exchange", url, exchange, basic("shares", s.secrets["shares"]), pid, seconds),
        # One at a time: identity's login throttle answers 429 to a burst of logins for one user (not loosened).
        await measure("password (a hash each, on purpose)", url, password, {}, pid, password_seconds, 1),
    ]


def run(seconds: float) -> list[Grant]:
    with suite("sqlite") as s, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run_grants(s, seconds, max(1.0, seconds / 2)))


def print_grants(grants: list[Grant]) -> None:
    print(f"{'grant':<36} {'grants/s':>9} {'CPU µs/grant':>13} {'grants/s per core':>18}")
    for g in grants:
        print(f"{g.name:<36} {g.rate:>9.0f} {g.cpu_us:>13.0f} {g.per_core:>18.0f}")
    cc = grants[0].per_core
    print(f"target: client credentials >= {TARGET_CC_PER_CORE} grants/s per core: {cc:.0f}, "
          f"{'met' if cc >= TARGET_CC_PER_CORE else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print_grants(run(args.seconds))


if __name__ == "__main__":
    main()

"""What does a hop through the gateway cost, against calling the todos service directly as the baseline?

    uv run --no-sync python -m bench.gateway [--mode passthrough|...|all] [--seconds 5] [--concurrency 16]
                                             [--tokens N] [--max-requests N]

Starts the whole suite as real processes (devstack.Suite: the chosen mode, SQLite in a temporary run
directory, free loopback ports) and stops it at the end. Every request is `GET /todos/whoami` (any
authenticated caller), either direct to todos — with a client-credentials token of `reminders`, which todos
takes in every mode — or as `GET /api/todos/whoami` through the gateway, with alice's edge token (the edge
takes users' tokens from edge clients only). The new-token pool is copies of alice's token signed with
identity's key from the database of the suite the bench started (bench/tokens.py, docs/performance.md).

Load cases, each after a 1 s warm-up with the same traffic, bounded by `--seconds` and a request cap:
- direct to todos, one token (the baseline);
- through the gateway, one token (the gateway's and todos's token caches hit);
- through the gateway, a new token for every request (both verify in full): tokens come from a pool
  minted before the case is timed, never reused; the case stops early if the pool runs out, and says so.
Unloaded latency: 300 sequential requests each (after 30 unmeasured), one keep-alive connection to todos
and one to the gateway, taken in turn; their req/s is one over the mean latency.

The load generator is an asyncio aiohttp client (keep-alive, fixed concurrency) in this process, on the
same cores as the services. Each load row shows the CPU used while it ran, in cores: this process, the
gateway, todos, and "other" (the rest of the machine: near 0 unless something else was running, which
makes that run's numbers suspect). Targets: shared/DESIGN.md, Performance. Nothing fails on a missed
target; the table says what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

# The client's own loop: uvloop, as the services run (uvicorn[standard] brings it).
import uvloop

from authz import Mode
from bench import procs
from bench.tokens import copies_of
from devstack.ports import free_ports
from devstack.suite import DEFAULT_MODE, MODES, Suite, SuiteConfig
from gateway.modes import gateway_mode

SERVICES = ("identity", "mailsink", "todos", "reminders", "shares", "gateway")
WARMUP_SECONDS = 1.0
LATENCY_REQUESTS = 300
LATENCY_WARMUP = 30
#: Targets from shared/DESIGN.md, Performance (passthrough mode).
TARGET_HIT = 0.40
TARGET_NEW = 0.22
TARGET_ADDED_P50_MS = 0.75

Headers = Callable[[], dict[str, str]]


@dataclass
class Result:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    capped: bool = False
    #: CPU used while the case ran, in cores (CPU seconds / wall seconds), by process.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1e3


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation), `q` in 0..100."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TokenPool:
    """Distinct tokens handed out once each, in order: every request a token no cache has seen."""

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self.used = 0

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def remaining(self) -> int:
        return len(self._tokens) - self.used

    def next_headers(self) -> dict[str, str]:
        token = self._tokens[self.used]
        self.used += 1
        return bearer(token)


class CpuMeter:
    """CPU seconds of this process, of the gateway and todos processes, and of the whole machine (Linux
    /proc; only this process's where unavailable). What the machine spent beyond those is "other": the
    rest of the suite, and anything else running on the machine, which would skew the numbers."""

    def __init__(self, ports: dict[str, int]) -> None:
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.pids = {name: pid for name in ("gateway", "todos") if (pid := _pid_listening(ports[name])) is not None}

    def sample(self) -> dict[str, float]:
        times = os.times()
        out = {"client": times.user + times.system}
        out.update(procs.sample(self.pids))
        try:  # the first line of /proc/stat: all CPUs' time by state; idle and iowait are not busy
            ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            out["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / self._tick
        except (OSError, IndexError, ValueError):
            pass
        return out


def _pid_listening(port: int) -> int | None:
    """The uvicorn process started with `--port <port>` (its command line says so), if /proc can tell."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in args and b"--port" in args:
            at = args.index(b"--port") + 1
            if args[at : at + 1] == [str(port).encode()]:
                return int(entry.name)
    return None


async def drive(
    session: aiohttp.ClientSession, url: str, headers: Headers, *, concurrency: int, seconds: float, cap: int
) -> Result:
    """`concurrency` workers send requests back to back until `seconds` pass or `cap` requests are sent."""
    result = Result(url)
    sent = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal sent
        while sent < cap and time.perf_counter() < deadline:
            sent += 1
            h = headers()
            t = time.perf_counter()
            try:
                async with session.get(url, headers=h) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                result.latencies.append(time.perf_counter() - t)
            else:
                result.errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    result.requests = len(result.latencies)
    result.capped = sent >= cap
    return result


async def load_case(
    name: str,
    url: str,
    headers: Headers,
    *,
    concurrency: int,
    seconds: float,
    cap: Callable[[], int],
    meter: CpuMeter,
) -> Result:
    """Warm up for a second with the same traffic, then measure (the cap is read again after warm-up)."""
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector) as session:
        await drive(session, url, headers, concurrency=concurrency, seconds=WARMUP_SECONDS, cap=cap())
        before, t0 = meter.sample(), time.perf_counter()
        result = await drive(session, url, headers, concurrency=concurrency, seconds=seconds, cap=cap())
        after, wall = meter.sample(), time.perf_counter() - t0
    result.name = name
    result.cpu = {k: (after[k] - before[k]) / wall for k in after if k in before}
    if "machine" in result.cpu and len(result.cpu) == 4:
        result.cpu["other"] = max(0.0, result.cpu.pop("machine") - sum(result.cpu.values()))  # ticks: ±0.02
    return result


async def latency_cases(direct: str, via: str, token: str, edge_token: str) -> tuple[Result, Result]:
    """Sequential requests, one keep-alive connection to each of todos and the gateway, taken in turn
    (direct, via, direct, ...) so both see the same machine: the latency of an idle suite."""
    headers_for = {direct: bearer(token), via: bearer(edge_token)}
    results = Result("unloaded, direct (1 connection)"), Result("unloaded, via gateway (1 connection)")
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as to_direct,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as to_via,
    ):
        for i in range(LATENCY_WARMUP + LATENCY_REQUESTS):
            for session, url, result in ((to_direct, direct, results[0]), (to_via, via, results[1])):
                t = time.perf_counter()
                async with session.get(url, headers=headers_for[url]) as response:
                    await response.read()
                    ok = response.status == 200
                elapsed = time.perf_counter() - t
                if i < LATENCY_WARMUP:
                    continue
                if ok:
                    result.latencies.append(elapsed)
                    result.seconds += elapsed
                else:
                    result.errors += 1
    for result in results:
        result.requests = len(result.latencies)
    return results


async def mint(token_url: str, secret: str, count: int, concurrency: int = 1) -> list[str]:
    """`count` distinct client-credentials tokens of `reminders` for the todos audience."""
    tokens: list[str] = []
    form = {"grant_type": "client_credentials", "audience": "todos"}
    # HTTP Basic by hand (aiohttp's BasicAuth is deprecated); the generated secret is URL-safe already.
    auth = {"Authorization": "Basic " + base64.b64encode(f"reminders:{secret}".encode()).decode()}

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        for _ in range(n):
            async with session.post(token_url, data=form, headers=auth) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"minting a token failed: {response.status} {body}")
                tokens.append(body["access_token"])

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
        await asyncio.gather(*(worker(session, n) for n in shares if n))
    if len(set(tokens)) != len(tokens):
        raise RuntimeError("identity minted the same token twice")
    return tokens


async def password_token(token_url: str, user: str) -> str:
    """A demo user's edge token (todo-cli, password grant; opaque in phantom mode)."""
    form = {"grant_type": "password", "client_id": "todo-cli", "username": user, "password": user}
    async with aiohttp.ClientSession() as session, session.post(token_url, data=form) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"a password token failed: {response.status} {body}")
        return body["access_token"]


async def check(url: str, token: str) -> None:
    """One request must succeed before anything is timed (a 401 here is a setup problem, not a number)."""
    async with aiohttp.ClientSession() as session, session.get(url, headers=bearer(token)) as response:
        body = await response.text()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body}")


@dataclass
class Report:
    rows: list[Result]
    latency: tuple[Result, Result]
    pool: int
    pool_used: int
    mint_seconds: float
    notes: list[str]
    mode: str = DEFAULT_MODE

    @property
    def added_p50_ms(self) -> float:
        return self.latency[1].ms(50) - self.latency[0].ms(50)


async def run(suite: Suite, args: argparse.Namespace) -> Report:
    direct = f"{suite.url('todos')}/todos/whoami"
    via = f"{suite.url('gateway')}/api/todos/whoami"
    token_url = f"{suite.url('identity')}/token"
    secret = suite.secrets["reminders"]
    meter = CpuMeter(suite.config.ports)
    notes = []
    if not meter.pids:
        notes.append("CPU use per process not available (no /proc): client CPU only")

    mode = suite.config.mode
    (token,) = await mint(token_url, secret, 1, concurrency=1)
    # The edge takes users' tokens from edge clients only: alice's, from one password grant.
    edge_token = await password_token(token_url, "alice")
    await check(direct, token)
    await check(via, edge_token)
    one, edge = bearer(token), bearer(edge_token)

    lat_direct, lat_via = await latency_cases(direct, via, token, edge_token)

    opts = {"concurrency": args.concurrency, "seconds": args.seconds, "meter": meter}
    base = await load_case("direct to todos, one token (baseline)", direct, lambda: one,
                           cap=lambda: args.max_requests, **opts)  # fmt: skip
    hit = await load_case("gateway, one token (cache hit)", via, lambda: edge, cap=lambda: args.max_requests, **opts)
    if gateway_mode(Mode(mode)).opaque_edge_tokens:
        notes.append(f"{mode}: no new-token case (edge tokens are opaque handles that only identity issues, "
                     "one password grant each)")  # fmt: skip
        for row in (base, hit, lat_direct, lat_via):
            if row.errors:
                notes.append(f"{row.name}: {row.errors} requests failed (not counted)")
        return Report([base, hit], (lat_direct, lat_via), 0, 0, 0.0, notes, mode)

    # Enough tokens for warm-up plus the timed run at the cache-hit rate (a miss is never faster), with room.
    size = args.tokens or max(1000, math.ceil(hit.rate * (WARMUP_SECONDS + args.seconds) * 1.3) + args.concurrency)
    t = time.perf_counter()
    pool = TokenPool(copies_of(edge_token, suite.config.database_url("identity"), size))
    mint_seconds = time.perf_counter() - t
    new = await load_case("gateway, new token every request", via, pool.next_headers,
                          cap=lambda: min(args.max_requests, pool.remaining), **opts)  # fmt: skip
    if new.capped and pool.remaining == 0:
        notes.append(
            f"the token pool ran out: the new-token case stopped after {new.seconds:.1f} s, not {args.seconds:g} s"
        )
    for row in (base, hit, new):
        if row.capped and not (row is new and pool.remaining == 0):
            notes.append(f"{row.name}: stopped at the request cap ({args.max_requests}) after {row.seconds:.1f} s")
        if row.errors:
            notes.append(f"{row.name}: {row.errors} requests failed (not counted in req/s)")
    for row in (lat_direct, lat_via):
        if row.errors:
            notes.append(f"{row.name}: {row.errors} requests failed (not counted)")
    return Report([base, hit, new], (lat_direct, lat_via), len(pool), pool.used, mint_seconds, notes, mode)


def print_report(report: Report, args: argparse.Namespace) -> None:
    base = report.rows[0]
    lat_direct, lat_via = report.latency
    loop = "uvloop"
    print(
        f"gateway bench: {report.mode}, GET /todos/whoami, {os.cpu_count()} cores, concurrency {args.concurrency}, "
        f"{args.seconds:g} s per case after {WARMUP_SECONDS:g} s warm-up, client loop {loop}"
    )
    print()
    cores = "CPU cores: client/gw/todos/other"
    print(f"{'case':<40} {'req/s':>8} {'x baseline':>11} {'p50 ms':>8} {'p99 ms':>8}   {cores}")
    for row in report.rows:
        cpu = "/".join(f"{row.cpu[k]:.2f}" if k in row.cpu else "-" for k in ("client", "gateway", "todos", "other"))
        print(f"{row.name:<40} {row.rate:>8.0f} {row.rate / base.rate:>11.2f} {row.ms(50):>8.2f} {row.ms(99):>8.2f}"
              f"   {cpu}")  # fmt: skip
    for row in report.latency:
        print(f"{row.name:<40} {row.rate:>8.0f} {row.rate / lat_direct.rate:>11.2f} {row.ms(50):>8.2f} "
              f"{row.ms(99):>8.2f}")  # fmt: skip
    print()
    print(f"requests timed: {', '.join(f'{r.requests}' for r in report.rows)}; unloaded: {LATENCY_REQUESTS} each")
    if report.pool:
        print(f"token pool: {report.pool} distinct tokens minted in {report.mint_seconds:.1f} s before the case; "
              f"{report.pool_used} used (warm-up included), none reused")  # fmt: skip
    for note in report.notes:
        print(f"note: {note}")
    if report.mode != DEFAULT_MODE:
        return  # the targets are the default mode's (passthrough, shared/DESIGN.md)

    added = lat_via.ms(50) - lat_direct.ms(50)
    hit, new = report.rows[1].rate / base.rate, report.rows[2].rate / base.rate
    print()
    print("targets (shared/DESIGN.md, Performance)")
    targets = [
        ("gateway, cache hit", f">= {TARGET_HIT:.2f}x direct", f"{hit:.2f}x", hit >= TARGET_HIT),
        ("gateway, every token new", f">= {TARGET_NEW:.2f}x direct", f"{new:.2f}x", new >= TARGET_NEW),
        ("added p50 per hop, unloaded", f"<= {TARGET_ADDED_P50_MS:.2f} ms", f"{added:.2f} ms",
         added <= TARGET_ADDED_P50_MS),
    ]  # fmt: skip
    for name, target, measured, met in targets:
        print(f"  {name:<30} {target:<16} {measured:>9}   {'met' if met else 'NOT met'}")


def _run_async(coro: Coroutine[Any, Any, Report]) -> Report:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per load case (default 5)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument(
        "--tokens", type=int, default=0, help="size of the new-token pool (default: sized from the cache-hit rate)"
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="request cap per load case")
    parser.add_argument("--mode", choices=(*MODES, "all"), default=DEFAULT_MODE,
                        help="boundary mode (default passthrough; `all` runs each and prints a summary)")  # fmt: skip
    args = parser.parse_args()

    modes = MODES if args.mode == "all" else (args.mode,)
    reports = []
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix="bench-gateway-") as run_dir:
            config = SuiteConfig(
                run_dir=Path(run_dir),
                ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
                mode=mode,
                reminders_interval_seconds=0,
                web=False,  # no browser here: the web UI would only take a core
                extra_env=procs.TRACING_OFF,
            )
            print(f"starting the suite ({mode}) ...", flush=True)
            with Suite(config) as suite:
                report = _run_async(run(suite, args))
        print_report(report, args)
        reports.append(report)
    if len(reports) > 1:
        print_modes(reports)


def print_modes(reports: list[Report]) -> None:
    """One line per mode: what the gateway's cache-hit path and one unloaded hop cost in that mode. Each
    mode's ratio is against its own direct baseline, measured in the same run."""
    print()
    print(f"{'mode':<12} {'gateway cache hit, x direct':>28} {'added p50 per hop, ms':>22}")
    for r in reports:
        print(f"{r.mode:<12} {r.rows[1].rate / r.rows[0].rate:>28.2f} {r.added_p50_ms:>22.2f}")


if __name__ == "__main__":
    main()

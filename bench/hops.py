"""Every hop against its floor, measured in the same run: CPU per request first, throughput as a ratio.

    uv run --no-sync python -m bench.hops [--seconds 4] [--rounds 3] [--db sqlite|postgres|both]
                                          [--part todos|gateway|all]

Starts the suite (devstack.Suite, passthrough, free loopback ports, tracing off) and, beside it, the floors
of bench/floors.py: a bare FastAPI app with todos' two endpoints (sync `def`s, same JSON) and a bare aiohttp
forwarding hop in front of it, all under devstack's uvicorn command (uvloop, httptools). Each comparison
takes its floor and its part in turn: half a second of warm-up each, then `--rounds` rounds of short
windows (floor, part, part, floor; `--seconds` per side in all), 16 requests in flight from one aiohttp
client in this process, and each process's median CPU per request over the windows (`compare`):

- `GET /todos/whoami` direct: the floor, and todos with one client-credentials token (cache hit);
- `GET /todos` (50 of alice's todos, from the database) direct: the floor, and todos with alice's token;
- the same two through a hop: the bare hop in front of the floor service against the gateway in front of
  the same floor service (`/api/floor/…`, an extra upstream of the suite's gateway, alice's edge token
  verified as for todos) — the gateway's own cost — and against the gateway in front of todos.

Each row shows the CPU per request of the process under test (and of its upstream for the hop rows),
read from its CPU clock (ns) over the timed windows (bench/procs.py), and its throughput as a
ratio to the floor's in the same run. `--part gateway --db sqlite --seconds 3` is the quick check of the
gateway alone (about 40 s). `mesh_rows` (in `make bench`) runs the gateway path again with the local mesh.
Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

from authz import Mode
from bench import procs
from bench.gateway import Headers, Result, bearer, drive, mint, password_token
from devstack.ports import free_ports
from devstack.suite import Suite, SuiteConfig
from tests.e2e.infra.databases import postgres_databases

SERVICES = ("identity", "mailsink", "todos", "reminders", "shares", "gateway")
DATABASES = ("identity", "todos", "reminders", "shares")
WARMUP_SECONDS = 1.0
CONCURRENCY = 16
PAGE = 50
#: Alternating windows per comparison (bench.hops.compare).
ROUNDS = 3
#: What `--part` can choose: todos against the floor service, the gateway against the bare hop.
PARTS = ("todos", "gateway")
#: The floor service's name behind the gateway (an extra upstream: `/api/floor/…`), taking edge tokens for todos.
FLOOR_UPSTREAM = "floor"


@dataclass
class Row:
    """One load case: who served it, its rate, and each watched process's CPU per request (µs)."""

    name: str
    result: Result
    cpu_us: dict[str, float] = field(default_factory=dict)
    floor: Row | None = None
    #: The process whose CPU per request is compared with the floor's (`todos`, `gateway`, `floor`, `hop`).
    subject: str = ""

    @property
    def rate(self) -> float:
        return self.result.rate

    @property
    def cpu_ratio(self) -> float | None:
        if self.floor is None:
            return None
        return self.cpu_us[self.subject] / self.floor.cpu_us[self.floor.subject]

    @property
    def rate_ratio(self) -> float | None:
        return self.rate / self.floor.rate if self.floor else None


async def load(name: str, url: str, token: str | Headers | None, pids: dict[str, int], seconds: float,
               cap: Callable[[], int] = lambda: 10**9, warmup_cap: int = 10**9) -> Row:  # fmt: skip
    """Warm up for a second (at most `warmup_cap` requests), then `seconds` of load; `token` is one token, none,
    or a fresh header per request (`cap` is then how many are left)."""
    if callable(token):
        headers: Headers = token
    else:
        fixed = bearer(token) if token else {}
        headers = lambda: fixed  # noqa: E731
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector) as session:
        await drive(session, url, headers, concurrency=CONCURRENCY, seconds=WARMUP_SECONDS, cap=min(cap(), warmup_cap))
        before = procs.sample(pids)
        result = await drive(session, url, headers, concurrency=CONCURRENCY, seconds=seconds, cap=cap())
        after = procs.sample(pids)
    result.name = name
    if result.errors:
        raise RuntimeError(f"{name}: {result.errors} requests failed")
    n = max(result.requests, 1)
    return Row(name, result, {k: v / n * 1e6 for k, v in procs.used(before, after).items()})


async def seed_todos(gateway: str, token: str, count: int) -> None:
    """`count` todos for alice, through the gateway as a client would create them."""
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            body = {"title": f"bench todo {i}"}
            async with session.post(f"{gateway}/api/todos", json=body, headers=bearer(token)) as response:
                if response.status != 201:
                    raise RuntimeError(f"creating a todo failed: {response.status} {await response.text()}")


@contextmanager
def suite(db: str, *, mesh: bool = False, mode: str = Mode.PASSTHROUGH.value, floor_url: str | None = None
          ) -> Iterator[Suite]:  # fmt: skip
    """The suite (no web UI, tracing off); with `floor_url`, the gateway also routes `/api/floor/…` there."""
    with ExitStack() as stack:
        run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hops-")))
        urls = stack.enter_context(postgres_databases(list(DATABASES))) if db == "postgres" else {}
        config = SuiteConfig(
            run_dir=run_dir,
            ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
            database_urls=urls,
            mode=mode,
            reminders_interval_seconds=0,
            mesh=mesh,
            web=False,  # no browser here: the web UI would only take a core
            extra_env=procs.TRACING_OFF,
            extra_upstreams={FLOOR_UPSTREAM: (floor_url, "todos")} if floor_url else {},
        )
        yield stack.enter_context(Suite(config))


@contextmanager
def floors() -> Iterator[tuple[str, str, dict[str, int]]]:
    """The floor service and the bare hop in front of it: their URLs and pids."""
    service_port, hop_port = free_ports(2)
    service_url = f"http://127.0.0.1:{service_port}"
    with (
        procs.uvicorn_process("bench.floors:service_app", service_port) as service_pid,
        procs.uvicorn_process("bench.floors:hop_app", hop_port, {"BENCH_UPSTREAM": service_url}) as hop_pid,
    ):
        yield service_url, f"http://127.0.0.1:{hop_port}", {"floor": service_pid, "hop": hop_pid}


def sidecar_pids(s: Suite) -> dict[str, int]:
    """The Envoy sidecars (devstack names them `<app>-inbound`, `<app>-outbound`) on the gateway→todos path."""
    return {
        name: s.pid(name)
        for name, running in s.running()
        if running is None and name.rsplit("-", 1)[0] in ("gateway", "todos") and name.endswith("bound")
    }


@dataclass
class MeshRow:
    """The gateway path (cache hit) with or without the mesh: load CPU and unloaded latency."""

    mesh: bool
    row: Row
    p50_ms: float
    p99_ms: float

    @property
    def sidecar_us(self) -> float:
        return sum(v for k, v in self.row.cpu_us.items() if k.endswith("bound"))


async def unloaded(url: str, token: str, requests: int) -> Result:
    """Sequential requests over one keep-alive connection (30 unmeasured first)."""
    result = Result(url)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for i in range(30 + requests):
            t = time.perf_counter()
            async with session.get(url, headers=bearer(token)) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {url}: {response.status}")
            if i >= 30:
                result.latencies.append(time.perf_counter() - t)
    return result


def mesh_rows(seconds: float, latency_requests: int = 300) -> list[MeshRow]:
    """`GET /api/todos/whoami` through the gateway, no mesh and MESH=1, same mode (passthrough) and load."""
    out = []
    for mesh in (False, True):
        print(f"mesh: {'on' if mesh else 'off'} ...", flush=True)
        with suite("sqlite", mesh=mesh) as s, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            pids = {"gateway": s.pid("gateway"), "todos": s.pid("todos"), **sidecar_pids(s)}
            alice = runner.run(password_token(f"{s.url('identity')}/token", "alice"))
            url = f"{s.url('gateway')}/api/todos/whoami"
            lat = runner.run(unloaded(url, alice, latency_requests))
            row = runner.run(load(f"gateway, {'MESH=1' if mesh else 'no mesh'}", url, alice, pids, seconds))
            row.subject = "gateway"
            out.append(MeshRow(mesh, row, lat.ms(50), lat.ms(99)))
    return out


def print_mesh(rows: list[MeshRow]) -> None:
    base = rows[0]
    print(f"{'case':<24} {'req/s':>7} {'CPU µs/req: gateway':>20} {'todos':>6} {'sidecars':>9} "
          f"{'unloaded p50 ms':>16} {'p99 ms':>7}")  # fmt: skip
    for m in rows:
        c = m.row.cpu_us
        print(f"{m.row.name:<24} {m.row.rate:>7.0f} {c['gateway']:>20.0f} {c['todos']:>6.0f} {m.sidecar_us:>9.0f} "
              f"{m.p50_ms:>16.2f} {m.p99_ms:>7.2f}")  # fmt: skip
    for m in rows[1:]:
        each = {k: round(v) for k, v in m.row.cpu_us.items() if k.endswith("bound")}
        print(f"sidecars' CPU per request: {each}; added per request: p50 {m.p50_ms - base.p50_ms:+.2f} ms, "
              f"p99 {m.p99_ms - base.p99_ms:+.2f} ms")  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One side of a comparison: what to request, with which token, and whose CPU is the figure."""

    name: str
    url: str
    token: str | None
    subject: str


async def compare(floor: Case, part: Case, pids: dict[str, int], seconds: float, rounds: int) -> tuple[Row, Row]:
    """A part against its floor in alternating windows: `rounds` rounds of floor, part, part, floor (ABBA,
    so a drift in the machine's load over the rounds falls on both alike), `seconds / rounds` per window
    and side; each process's CPU per request is the median over the windows, the rate the total's.

    On a machine shared with other work a single long window per side lets a burst of someone else's work
    land on one side only; short windows taken in turn and a median make the ratio far steadier (the
    spread before and after: docs/performance.md)."""
    window = seconds / (2 * rounds)
    sides: dict[str, tuple[Case, Result, list[dict[str, float]]]] = {
        floor.name: (floor, Result(floor.name), []),
        part.name: (part, Result(part.name), []),
    }
    connector = lambda: aiohttp.TCPConnector(limit=CONCURRENCY, keepalive_timeout=60)  # noqa: E731
    async with (
        aiohttp.ClientSession(connector=connector()) as floor_session,
        aiohttp.ClientSession(connector=connector()) as part_session,
    ):
        sessions = {floor.name: floor_session, part.name: part_session}

        async def measure(case: Case, span: float, record: bool) -> None:
            fixed = bearer(case.token) if case.token else {}
            before = procs.sample(pids)
            result = await drive(sessions[case.name], case.url, lambda: fixed, concurrency=CONCURRENCY,
                                 seconds=span, cap=10**9)  # fmt: skip
            after = procs.sample(pids)
            if result.errors:
                raise RuntimeError(f"{case.name}: {result.errors} requests failed")
            if record:
                _, total, windows = sides[case.name]
                total.requests += result.requests
                total.seconds += result.seconds
                total.latencies += result.latencies
                n = max(result.requests, 1)
                windows.append({k: v / n * 1e6 for k, v in procs.used(before, after).items()})

        for case in (floor, part):
            await measure(case, WARMUP_SECONDS / 2, record=False)
        for _ in range(rounds):
            for case in (floor, part, part, floor):
                await measure(case, window, record=True)
    rows = []
    for case, result, windows in sides.values():
        cpu = {k: statistics.median(w[k] for w in windows) for k in windows[0]}
        rows.append(Row(case.name, result, cpu, subject=case.subject))
    floor_row, part_row = rows
    part_row.floor = floor_row
    return floor_row, part_row


async def service_rows(s: Suite, floor_url: str, hop_url: str, fpids: dict[str, int], seconds: float,
                       db: str, rounds: int = ROUNDS, parts: tuple[str, ...] = PARTS) -> list[Row]:  # fmt: skip
    pids = {"todos": s.pid("todos"), "gateway": s.pid("gateway"), **fpids}
    token_url = f"{s.url('identity')}/token"
    (service_token,) = await mint(token_url, s.secrets["reminders"], 1)
    alice = await password_token(token_url, "alice")
    await seed_todos(s.url("gateway"), alice, PAGE)
    todos, gateway = s.url("todos"), s.url("gateway")
    # The floors get the same requests, Authorization header included (the same bytes to parse and forward);
    # they just do nothing with it.
    pairs = []
    if "todos" in parts:
        pairs += [
            (Case(f"floor ({db} pass): whoami", f"{floor_url}/todos/whoami", service_token, "floor"),
             Case(f"todos ({db}): whoami, cache hit", f"{todos}/todos/whoami", service_token, "todos")),
            (Case(f"floor ({db} pass): list of 50", f"{floor_url}/todos?limit={PAGE}", alice, "floor"),
             Case(f"todos ({db}): GET /todos, 50", f"{todos}/todos?limit={PAGE}", alice, "todos")),
        ]  # fmt: skip
    if "gateway" in parts:
        # The gateway's own cost: in front of the same floor service as the bare hop (devstack routes
        # `/api/floor/…` to it, an extra upstream), so both forward the same answers at the same pace. In
        # front of todos the gateway runs at todos' slower pace, where each request shares fewer wake-ups
        # of the loop and costs more CPU for that alone: those rows are the path a client takes, not the
        # gateway's cost against the hop's.
        hop = f"{hop_url}/api/todos"
        pairs += [
            (Case(f"bare hop ({db} pass): whoami", f"{hop}/whoami", alice, "hop"),
             Case(f"gateway ({db}): whoami, cache hit", f"{gateway}/api/{FLOOR_UPSTREAM}/whoami", alice, "gateway")),
            (Case(f"bare hop ({db} pass): list of 50", f"{hop}?limit={PAGE}", alice, "hop"),
             Case(f"gateway ({db}): list of 50", f"{gateway}/api/{FLOOR_UPSTREAM}?limit={PAGE}", alice, "gateway")),
            (Case(f"bare hop ({db} pass): whoami, again", f"{hop}/whoami", alice, "hop"),
             Case(f"gateway → todos ({db}): whoami", f"{gateway}/api/todos/whoami", alice, "gateway")),
            (Case(f"bare hop ({db} pass): list of 50, again", f"{hop}?limit={PAGE}", alice, "hop"),
             Case(f"gateway → todos ({db}): GET /todos, 50", f"{gateway}/api/todos?limit={PAGE}", alice, "gateway")),
        ]  # fmt: skip
    rows: list[Row] = []
    for floor, part in pairs:
        rows += await compare(floor, part, pids, seconds, rounds)
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"{'case':<40} {'req/s':>7} {'x floor':>8} {'CPU µs/req':>11} {'x floor':>8}  {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        rr = f"{row.rate_ratio:.2f}" if row.rate_ratio else "1.00"
        cr = f"{row.cpu_ratio:.2f}" if row.cpu_ratio else "1.00"
        cpu = row.cpu_us.get(row.subject, float("nan"))
        print(f"{row.name:<40} {row.rate:>7.0f} {rr:>8} {cpu:>11.0f} {cr:>8}  {row.result.ms(50):>7.2f} "
              f"{row.result.ms(99):>7.2f}")  # fmt: skip


def run(seconds: float, dbs: list[str], rounds: int = ROUNDS, parts: tuple[str, ...] = PARTS) -> list[Row]:
    rows: list[Row] = []
    with floors() as (floor_url, hop_url, fpids):
        for db in dbs:
            print(f"starting the suite ({db}) ...", flush=True)
            with suite(db, floor_url=floor_url) as s:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    rows += runner.run(service_rows(s, floor_url, hop_url, fpids, seconds, db, rounds, parts))
                placement = {n: procs.where(p) for n, p in {"todos": s.pid("todos"), "gateway": s.pid("gateway"),
                                                            **fpids}.items()}  # fmt: skip
        print(
            "where: " + "; ".join(f"{n}: {w}" for n, w in placement.items()) + f"; client: {procs.where(os.getpid())}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per side of each comparison")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="alternating floor/part rounds per comparison")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--part", choices=(*PARTS, "all"), default="all",
                        help="todos against its floor, the gateway against the bare hop, or both")  # fmt: skip
    args = parser.parse_args()
    t = time.time()
    load_before = os.getloadavg()[0]
    parts = PARTS if args.part == "all" else (args.part,)
    rows = run(args.seconds, ["sqlite", "postgres"] if args.db == "both" else [args.db], args.rounds, parts)
    print()
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; {time.time() - t:.0f} s")
    print_rows(rows)


if __name__ == "__main__":
    main()

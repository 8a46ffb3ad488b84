"""Every hop against its floor, measured in the same run: CPU per request first, throughput as a ratio.

    uv run --no-sync python -m bench.hops [--seconds 4] [--db sqlite|postgres|both] [--mesh] [--quick]

Starts the suite (devstack.Suite, passthrough, free loopback ports) and, beside it, the floors of
bench/floors.py: a bare FastAPI app with todos' two endpoints (sync `def`s, same JSON) and a bare aiohttp
forwarding hop in front of it, all under devstack's uvicorn command (uvloop, httptools). Then, for each
case, 1 s of warm-up and `--seconds` of load (16 requests in flight, one aiohttp client in this process):

- `GET /todos/whoami` direct: the floor, and todos with one client-credentials token (cache hit);
- `GET /todos` (50 of alice's todos, from the database) direct: the floor, and todos with alice's token;
- the same two through a hop: the bare hop in front of the floor, the gateway in front of todos.

Each row shows the CPU per request of the process under test (and of its upstream for the hop rows),
read from /proc/<pid>/stat over the timed window, and its throughput as a ratio to the floor's in the
same run. `--mesh` runs the gateway rows again with the local mesh (Envoy sidecars) and adds the sidecars'
CPU per request. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg
import uvloop
from psycopg import sql

from authz import Mode
from bench import procs
from bench.gateway import Headers, Result, bearer, drive, mint, password_token
from devstack.ports import free_ports
from devstack.suite import Suite, SuiteConfig

SERVICES = ("identity", "mailsink", "todos", "reminders", "shares", "gateway")
DATABASES = ("identity", "todos", "reminders", "shares")
WARMUP_SECONDS = 1.0
CONCURRENCY = 16
PAGE = 50
PG_ADMIN_URL = os.environ.get("TODO_SUITE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


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
    return Row(name, result, {k: (after[k] - before[k]) / n * 1e6 for k in after if k in before})


async def seed_todos(gateway: str, token: str, count: int) -> None:
    """`count` todos for alice, through the gateway as a client would create them."""
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            body = {"title": f"bench todo {i}"}
            async with session.post(f"{gateway}/api/todos", json=body, headers=bearer(token)) as response:
                if response.status != 201:
                    raise RuntimeError(f"creating a todo failed: {response.status} {await response.text()}")


@contextmanager
def postgres_databases() -> Iterator[dict[str, str]]:
    """One fresh database per service on the local server (scripts/with-postgres's), dropped at the end."""
    run = uuid.uuid4().hex[:8]
    names = {name: f"todo_suite_bench_{run}_{name}" for name in DATABASES}
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        for db in names.values():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield {name: f"{base}/{db}" for name, db in names.items()}
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            for db in names.values():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


@contextmanager
def suite(db: str, *, mesh: bool = False, mode: str = Mode.PASSTHROUGH.value) -> Iterator[Suite]:
    with ExitStack() as stack:
        run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hops-")))
        urls = stack.enter_context(postgres_databases()) if db == "postgres" else {}
        config = SuiteConfig(
            run_dir=run_dir,
            ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
            database_urls=urls,
            mode=mode,
            reminders_interval_seconds=0,
            mesh=mesh,
            web=False,  # no browser here: the web UI would only take a core
            extra_env=procs.TRACING_OFF,
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


async def service_rows(s: Suite, floor_url: str, hop_url: str, fpids: dict[str, int], seconds: float,
                       db: str) -> list[Row]:  # fmt: skip
    pids = {"todos": s.pid("todos"), "gateway": s.pid("gateway"), **fpids}
    token_url = f"{s.url('identity')}/token"
    (service_token,) = await mint(token_url, s.secrets["reminders"], 1)
    alice = await password_token(token_url, "alice")
    await seed_todos(s.url("gateway"), alice, PAGE)
    todos, gateway = s.url("todos"), s.url("gateway")
    rows = []
    # The floors get the same requests, Authorization header included (the same bytes to parse and forward);
    # they just do nothing with it.
    f_who = await load(f"floor ({db} pass): whoami", f"{floor_url}/todos/whoami", service_token, pids, seconds)
    f_who.subject = "floor"
    t_who = await load(f"todos ({db}): whoami, cache hit", f"{todos}/todos/whoami", service_token, pids, seconds)
    t_who.subject, t_who.floor = "todos", f_who
    f_list = await load(f"floor ({db} pass): list of 50", f"{floor_url}/todos?limit={PAGE}", alice, pids, seconds)
    f_list.subject = "floor"
    t_list = await load(f"todos ({db}): GET /todos, 50", f"{todos}/todos?limit={PAGE}", alice, pids, seconds)
    t_list.subject, t_list.floor = "todos", f_list
    h_who = await load(f"bare hop ({db} pass): whoami", f"{hop_url}/api/todos/whoami", alice, pids, seconds)
    h_who.subject = "hop"
    g_who = await load(f"gateway ({db}): whoami, cache hit", f"{gateway}/api/todos/whoami", alice, pids, seconds)
    g_who.subject, g_who.floor = "gateway", h_who
    h_list = await load(f"bare hop ({db} pass): list of 50", f"{hop_url}/api/todos?limit={PAGE}", alice, pids, seconds)
    h_list.subject = "hop"
    g_list = await load(f"gateway ({db}): GET /todos, 50", f"{gateway}/api/todos?limit={PAGE}", alice, pids, seconds)
    g_list.subject, g_list.floor = "gateway", h_list
    rows += [f_who, t_who, f_list, t_list, h_who, g_who, h_list, g_list]
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"{'case':<40} {'req/s':>7} {'x floor':>8} {'CPU µs/req':>11} {'x floor':>8}  {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        rr = f"{row.rate_ratio:.2f}" if row.rate_ratio else "1.00"
        cr = f"{row.cpu_ratio:.2f}" if row.cpu_ratio else "1.00"
        cpu = row.cpu_us.get(row.subject, float("nan"))
        print(f"{row.name:<40} {row.rate:>7.0f} {rr:>8} {cpu:>11.0f} {cr:>8}  {row.result.ms(50):>7.2f} "
              f"{row.result.ms(99):>7.2f}")  # fmt: skip


def run(seconds: float, dbs: list[str]) -> list[Row]:
    rows: list[Row] = []
    with floors() as (floor_url, hop_url, fpids):
        for db in dbs:
            print(f"starting the suite ({db}) ...", flush=True)
            with suite(db) as s:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    rows += runner.run(service_rows(s, floor_url, hop_url, fpids, seconds, db))
                placement = {n: procs.where(p) for n, p in {"todos": s.pid("todos"), "gateway": s.pid("gateway"),
                                                            **fpids}.items()}  # fmt: skip
        print(
            "where: " + "; ".join(f"{n}: {w}" for n, w in placement.items()) + f"; client: {procs.where(os.getpid())}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    t = time.time()
    rows = run(args.seconds, ["sqlite", "postgres"] if args.db == "both" else [args.db])
    print()
    print(f"load average {os.getloadavg()[0]:.2f}; {time.time() - t:.0f} s")
    print_rows(rows)


if __name__ == "__main__":
    main()

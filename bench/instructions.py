"""The gateway's CPU work per request against the bare hop's, counted in instructions: a figure the machine's
other work cannot move.

    uv run --no-sync python -m bench.instructions [--requests 2000] [--concurrency 16]

CPU time per request (bench.hops, bench.own_cost) moves with whatever else the machine and its host are
doing: the same code measured the gateway at 1.16 and 1.29 times the bare hop within the hour (a busy host
slows memory-heavy code more than the rest, docs/performance.md). Instructions do not: valgrind counts
every instruction a process executes (cachegrind, no cache simulation), the same count for the same code,
inputs and environment however busy the machine is.

Each server — the bare hop of bench/floors.py or the gateway's app (`create_app`, passthrough, a test
issuer in the process: no identity needed) — runs under uvicorn as devstack runs it (uvloop, httptools, no
access log, no proxy headers), inside valgrind, in front of one raw upstream process (bench.own_cost's). This
process sends it a warm-up, then `--requests` `GET /api/todos/whoami` with the same token, `--concurrency`
in flight, and stops it (SIGTERM). The same run without the timed requests, subtracted, leaves what those
requests cost; divided by their number, the instructions per request of the whole server process (uvicorn,
the app, the aiohttp client, the garbage collector). The hash seed is fixed (`PYTHONHASHSEED=0`).
Linux with valgrind installed (the bench machines have it); about two minutes.
docs/performance.md, "Instructions, not seconds".
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.floors import WHOAMI
from bench.own_cost import ISSUER, UPSTREAM
from bench.procs import TRACING_OFF, wait_port
from devstack.ports import free_ports

APPS = ("bare hop", "gateway")
WARMUP = 300
PATH = "/api/todos/whoami"
#: How long a server under valgrind may take to start (the gateway's imports alone: ~15 s).
START_SECONDS = 300.0
#: valgrind's summary line: `==123== I   refs:      2,761,430,800`.
_I_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


@dataclass
class Count:
    """One server's instructions per request, from `requests` timed requests, `concurrency` in flight."""

    app: str
    requests: int
    concurrency: int
    per_request: float


def serve(app_name: str, port: int, upstream: str, token_file: Path) -> None:
    """The server side, inside valgrind: `app_name` under uvicorn on `port`, forwarding to `upstream`."""
    import uvicorn

    from authz.testing import FakeIssuer
    from bench.floors import Hop
    from bench.own_cost import bench_gateway, edge_token
    from gateway.boundary import GatewayApp

    issuer = FakeIssuer(ISSUER)
    token = edge_token(issuer)  # the bare hop gets it too, unread: the same bytes to parse and forward
    app: GatewayApp | Hop = bench_gateway(upstream, issuer) if app_name == "gateway" else Hop(upstream)
    token_file.write_text(token)
    # devstack's command (devstack.suite.uvicorn_cmd) as a Config: uvloop, httptools, no access log (the
    # suite's default), no proxy headers.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", lifespan="on",
                            access_log=False, proxy_headers=False, log_level="warning")  # fmt: skip
    uvicorn.Server(config).run()


async def send(url: str, token: str, requests: int, concurrency: int) -> None:
    """`requests` GETs of `url`, `concurrency` in flight; every answer must be a 200."""
    headers = {"Authorization": f"Bearer {token}"}
    statuses: set[int] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker(count: int) -> None:
            for _ in range(count):
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    statuses.add(response.status)

        share, extra = divmod(requests, concurrency)
        await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    if statuses - {200}:
        raise RuntimeError(f"answers other than 200 from {url}: {sorted(statuses)}")


def instructions(app_name: str, upstream: str, requests: int, concurrency: int, work: Path) -> int:
    """Instructions of one server process: started, warmed up, sent `requests`, stopped."""
    (port,) = free_ports(1)
    token_file = work / f"{app_name.replace(' ', '-')}-{requests}.token"
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, "-m", "bench.instructions", "--serve", app_name, "--port", str(port),
               "--upstream", upstream, "--token-file", str(token_file)]  # fmt: skip
    env = {**os.environ, **TRACING_OFF, "PYTHONHASHSEED": "0"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, server, START_SECONDS)
        url = f"http://127.0.0.1:{port}{PATH}"
        token = token_file.read_text()
        asyncio.run(send(url, token, WARMUP, concurrency))
        if requests:
            asyncio.run(send(url, token, requests, concurrency))
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=300)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    found = _I_REFS.search(stderr.decode(errors="replace"))
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind for {app_name}: {stderr[-500:]!r}")
    return int(found.group(1).replace(",", ""))


def count(app_name: str, upstream: str, requests: int, concurrency: int, work: Path) -> Count:
    """Instructions per request: a run with `requests` timed requests less one without them, side by side
    (two cores; the counts do not depend on timing), each in a thread of its own with its own event loop."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(instructions, app_name, upstream, n, concurrency, work) for n in (0, requests)]
        without, with_requests = (run.result() for run in runs)
    return Count(app_name, requests, concurrency, (with_requests - without) / requests)


def measure(requests: int, concurrency: int) -> list[Count]:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: instructions cannot be counted here")
    (port,) = free_ports(1)
    body = json.dumps(WHOAMI, separators=(",", ":"))
    upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(port), body])
    try:
        wait_port(port, upstream)
        with tempfile.TemporaryDirectory(prefix="bench-instructions-") as work:
            url = f"http://127.0.0.1:{port}"
            return [count(app, url, requests, concurrency, Path(work)) for app in APPS]
    finally:
        upstream.terminate()
        upstream.wait()


def print_counts(counts: list[Count]) -> None:
    hop = counts[0].per_request
    print(f"{'server process':<16} {'instructions/request':>21} {'x bare hop':>11}")
    for c in counts:
        print(f"{c.app:<16} {c.per_request:>21,.0f} {c.per_request / hop:>11.3f}")


def ratio(counts: list[Count]) -> float:
    """The gateway's instructions per request over the bare hop's."""
    by_app = {c.app: c.per_request for c in counts}
    return by_app["gateway"] / by_app["bare hop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per server")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--serve", choices=APPS, help=argparse.SUPPRESS)  # the server side, under valgrind
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.upstream, args.token_file)
        return
    started = time.time()
    print_counts(measure(args.requests, args.concurrency))
    print(f"({args.requests} requests after {WARMUP} of warm-up, {args.concurrency} in flight; "
          f"{time.time() - started:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()

"""The gateway's own work per request, apart from the load: its ASGI app and the bare hop's, in this process.

    uv run --no-sync python -m bench.own_cost [--requests 10000] [--rounds 4]

In the loaded suite (bench.hops) a process's CPU per request also depends on how many requests each wake-up
of its event loop finds, which moves with everything else on the machine: the gateway's figure there moves
by 10-20 % between runs, more than most changes to its code. Here nothing else is measured: the gateway's
ASGI app (`create_app`, passthrough, the edge token verified once and then admitted from the cache) and
the bare hop of bench/floors.py are called directly from this process — no uvicorn, no client — with 16
requests in flight, against one real upstream process (a raw asyncio server with a fixed answer), in
alternating windows (hop, gateway, gateway, hop), CPU per request from this process's clock
(`time.process_time`: the upstream runs elsewhere). What is left is the aiohttp client, which both use,
and the gateway's own code. docs/performance.md, "The gateway's own work, apart from the load".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import uvloop

from authz import AuthzSettings, Mode
from authz.testing import FakeIssuer
from bench.floors import WHOAMI, Hop
from bench.procs import TRACING_OFF, wait_port
from devstack.ports import free_ports
from gateway.app import create_app
from gateway.boundary import GatewayApp
from gateway.settings import Settings

ASGIApp = Callable[..., Coroutine[Any, Any, None]]
CONCURRENCY = 16
ISSUER = "http://identity.bench"

#: The upstream: answers every request on a keep-alive connection with whoami's bytes, nothing parsed.
UPSTREAM = """
import asyncio, sys, uvloop
body = sys.argv[2].encode()
head = b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: %d\\r\\n\\r\\n" % len(body)
answer = head + body
class Answer(asyncio.Protocol):
    def connection_made(self, transport): self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            self.buffer = self.buffer.partition(b"\\r\\n\\r\\n")[2]
            self.transport.write(answer)
async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
uvloop.run(main())
"""


def edge_token(issuer: FakeIssuer) -> str:
    """alice's edge token for todos, from the bench's test issuer."""
    return issuer.token(sub="alice-bench", audience="todos", client_id="todo-cli", scope="todos:read")


def bench_gateway(upstream: str, issuer: FakeIssuer) -> GatewayApp:
    """The gateway's app (passthrough) routing `todos` to `upstream`, its issuer the test one in this process
    (no identity needed)."""
    settings = Settings(upstreams={"todos": upstream}, edge_clients=["todo-cli"],
                        authz=AuthzSettings(issuer=ISSUER, audience="gateway", mode=Mode.PASSTHROUGH))  # fmt: skip
    return create_app(settings, transport=issuer.transport)


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """`app` with its ASGI lifespan started (and stopped after); the state it gave requests."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    state: dict[str, Any] = {}
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state},
                                   to_app.get, from_app.put))  # fmt: skip
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    try:
        yield state
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


def request_scope(token: str, state: dict[str, Any]) -> dict[str, Any]:
    """`GET /api/todos/whoami` as uvicorn hands it over, with the headers an aiohttp client sends."""
    headers = [(b"host", b"127.0.0.1:8080"), (b"authorization", f"Bearer {token}".encode()), (b"accept", b"*/*"),
               (b"accept-encoding", b"gzip, deflate"), (b"user-agent", b"Python/3.11 aiohttp")]  # fmt: skip
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
            "root_path": "", "path": "/api/todos/whoami", "raw_path": b"/api/todos/whoami", "query_string": b"",
            "headers": headers, "state": state}  # fmt: skip


async def drive(app: ASGIApp, scope: dict[str, Any], requests: int) -> None:
    """`requests` calls of `app`, `CONCURRENCY` at a time; every answer must be a 200."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def worker(count: int) -> None:
        for _ in range(count):
            await app(dict(scope), receive, send)

    await asyncio.gather(*(worker(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
    if set(statuses) != {200}:
        raise RuntimeError(f"answers other than 200: {sorted(set(statuses))}")


async def measure(port: int, requests: int, rounds: int) -> dict[str, list[float]]:
    """CPU µs per request of each app, one figure per window, forwarding to the upstream on `port`."""
    url = f"http://127.0.0.1:{port}"
    issuer = FakeIssuer(ISSUER)
    token = edge_token(issuer)
    gateway, hop = bench_gateway(url, issuer), Hop(url)
    async with running(gateway) as gateway_state, running(hop):
        cases: dict[str, tuple[ASGIApp, dict[str, Any]]] = {
            "bare hop": (hop, request_scope(token, {})),
            "gateway": (gateway, request_scope(token, gateway_state)),
        }
        for app, scope in cases.values():
            await drive(app, scope, requests // 5)  # warm: pools filled, the token admitted
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name in ("bare hop", "gateway", "gateway", "bare hop"):
                app, scope = cases[name]
                before = time.process_time()
                await drive(app, scope, requests)
                cpu[name].append((time.process_time() - before) / requests * 1e6)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests per window")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of hop, gateway, gateway, hop")
    args = parser.parse_args()
    os.environ.update(TRACING_OFF)  # as for every process the bench starts: the floors have no tracing
    (port,) = free_ports(1)
    upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(port), json.dumps(WHOAMI, separators=(",", ":"))])
    try:
        wait_port(port, upstream)
        cpu = uvloop.run(measure(port, args.requests, args.rounds))
    finally:
        upstream.terminate()
        upstream.wait()
    hop, gateway = statistics.median(cpu["bare hop"]), statistics.median(cpu["gateway"])
    print(f"{'case':<10} {'CPU µs/req (median)':>20} {'min':>7} {'max':>7}")
    for name, figures in cpu.items():
        print(f"{name:<10} {statistics.median(figures):>20.1f} {min(figures):>7.1f} {max(figures):>7.1f}")
    print(f"the gateway's own work: {gateway - hop:.1f} µs per request ({gateway / hop:.2f}× the bare hop's CPU, "
          f"no server, no client; load average {os.getloadavg()[0]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()

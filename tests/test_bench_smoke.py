"""The bench's machinery runs: the floors start, a load case completes and is measured, the page renders.

No timing is asserted (the machine is shared; numbers belong to `make bench`): only that each part produces
what the report needs, so `make bench` cannot rot between runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import time
from pathlib import Path

import pytest
import uvloop

from bench import procs
from bench.gateway import Result
from bench.grants import Grant
from bench.hops import CONCURRENCY, Case, MeshRow, Row, compare, floors, load
from bench.instructions import Count
from bench.jwt_table import claims, time_one
from bench.report import Plan, Results

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="CPU per request reads Linux /proc")


def _measure() -> tuple[Row, Row, str, tuple[Row, Row]]:
    with floors() as (service_url, hop_url, pids), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        direct = runner.run(load("floor", f"{service_url}/todos/whoami", None, pids, 1.0))
        hopped = runner.run(load("hop", f"{hop_url}/api/todos?limit=50", None, pids, 1.0))
        # The alternating windows of a comparison, the floor service against the hop in front of it (under
        # `/floor`, where the gateway reaches it in the bench).
        pair = runner.run(compare(Case("floor", f"{service_url}/floor/whoami", None, "floor"),
                                  Case("hop", f"{hop_url}/api/todos/whoami", None, "hop"), pids, 0.8, 1))  # fmt: skip
        return direct, hopped, procs.where(pids["hop"]), pair


def test_floors_answer_and_a_case_is_measured_per_process() -> None:
    # In a thread of its own, as `make bench` runs it: a loop of its own, whatever this thread holds (the
    # browser tests' sync Playwright keeps an event loop running in pytest's main thread).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        direct, hopped, where, (floor, hop) = pool.submit(_measure).result()
    assert "cpus" in where
    assert hop.floor is floor
    assert hop.cpu_ratio is not None
    for row in (direct, hopped, floor, hop):
        assert row.result.requests > CONCURRENCY
        assert row.result.errors == 0
        assert set(row.cpu_us) == {"floor", "hop"}
    assert direct.cpu_us["floor"] > 0  # the service did the work...
    assert hopped.cpu_us["hop"] > 0  # ...and the hop forwarded every request to it


def test_a_window_s_cpu_is_read_to_the_millisecond() -> None:
    # The process's CPU clock, not utime + stime in clock ticks (10 ms): a short window reads what it used,
    # not a multiple of 10 ms, as this process's own clock does.
    before, clock_before = procs.cpu_seconds(os.getpid()), time.process_time()
    deadline = time.process_time() + 0.013
    while time.process_time() < deadline:
        pass
    after, clock_after = procs.cpu_seconds(os.getpid()), time.process_time()
    assert before is not None
    assert after is not None
    assert abs((after - before) - (clock_after - clock_before)) < 0.001, (after - before, clock_after - clock_before)


def test_another_process_s_cpu_is_read_from_its_clock() -> None:
    import subprocess
    import sys

    spinner = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: pass"])
    try:
        time.sleep(0.3)
        # Its own CPU clock, readable from here (not the ticks of /proc/<pid>/stat, the fallback).
        assert time.clock_gettime(procs._cpu_clock(spinner.pid)) > 0
        first = procs.sample({"spinner": spinner.pid})
        time.sleep(0.3)
        second = procs.sample({"spinner": spinner.pid})
    finally:
        spinner.kill()
        spinner.wait()
    used = procs.used(first, second)["spinner"]
    # A busy process, on a core of its own most of the time: at most the 0.3 s between the readings.
    assert 0.05 < used <= 0.31, used


def test_the_gateway_s_own_cost_is_measured_against_the_bare_hop() -> None:
    # A thread of its own, as above: uvloop.run in pytest's main thread would meet Playwright's loop.
    import subprocess
    import sys

    from bench import own_cost
    from devstack.ports import free_ports

    (port,) = free_ports(1)
    upstream = subprocess.Popen([sys.executable, "-c", own_cost.UPSTREAM, str(port), '{"ok":true}'])
    try:
        procs.wait_port(port, upstream)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            cpu = pool.submit(lambda: uvloop.run(own_cost.measure(port, 160, 1))).result()
    finally:
        upstream.terminate()
        upstream.wait()
    assert set(cpu) == {"bare hop", "gateway"}
    assert all(len(figures) == 2 and min(figures) > 0 for figures in cpu.values())


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind counts instructions (on every bench machine)")
def test_instructions_per_request_are_counted_for_both_servers() -> None:
    from bench import instructions

    # A thread of its own (asyncio.run there), as above: pytest's main thread may already run Playwright's loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        counts = pool.submit(instructions.measure, 40, 4).result()
    assert [c.app for c in counts] == ["bare hop", "gateway"]
    # uvicorn, the app and the aiohttp client: hundreds of thousands of instructions per request (~460,000
    # for the bare hop, measured); anything far from it would mean the subtraction failed.
    assert all(100_000 < c.per_request < 2_000_000 for c in counts), counts


def test_cpu_of_a_process_tree_includes_its_children() -> None:
    own = procs.cpu_seconds(os.getpid())
    assert own is not None
    tree = procs.tree_cpu_seconds(os.getpid())
    assert tree is not None
    assert tree >= own


def test_jwt_table_payloads_are_the_books_sizes() -> None:
    import json

    for size in (180, 1800):
        assert abs(len(json.dumps(claims(size), separators=(",", ":"))) - size) < 20
    timing = time_one("ES256", 1800, 3)
    assert timing.token_chars > 2400
    assert timing.sign_us > 0
    assert timing.verify_us > 0


def test_the_page_and_its_plots_render(tmp_path: Path) -> None:
    from bench.markdown import write

    def row(name: str, subject: str, cpu: dict[str, float], floor: Row | None = None) -> Row:
        result = Result(name, requests=100, seconds=1.0, latencies=[0.001] * 100)
        return Row(name, result, cpu, floor, subject)

    floor = row("floor: whoami", "floor", {"floor": 100.0})
    hop = row("bare hop: whoami", "hop", {"hop": 100.0})
    passthrough = row("passthrough: new token per request", "gateway", {"gateway": 500, "todos": 500, "identity": 0})
    results = Results(Plan.quick(), "test machine", "2026-01-01 00:00 UTC", load=[(1.0, 1.0)] * 5)
    results.hops = [floor, row("todos (sqlite): whoami, cache hit", "todos", {"todos": 140.0}, floor), hop,
                    row("gateway (sqlite): whoami, cache hit", "gateway", {"gateway": 130.0}, hop)]  # fmt: skip
    results.grants = [Grant("client credentials", 100, 1.0, 500.0)]
    results.cold = [passthrough, row("reissue: new user per request", "gateway",
                                     {"gateway": 600, "todos": 500, "identity": 0}, passthrough)]  # fmt: skip
    off, on = {"gateway": 300.0, "todos": 300.0}, {"gateway": 300.0, "todos": 300.0, "todos-inbound": 200.0}
    results.mesh = [MeshRow(False, row("gateway, no mesh", "gateway", off), 1.0, 2.0),
                    MeshRow(True, row("gateway, MESH=1", "gateway", on), 1.5, 3.0)]  # fmt: skip
    results.jwt = [time_one("ES256", 180, 2), time_one("ES256", 1800, 2)]
    results.instructions = [Count("bare hop", 100, 16, 400_000.0), Count("gateway", 100, 16, 460_000.0)]
    results.load.append((1.0, 1.0))
    write(results, tmp_path)
    page = (tmp_path / "benchmarks.md").read_text()
    assert "**1.40\u00d7** its floor's CPU (target \u2264 1.5\u00d7: met)" in page
    assert "**1.30\u00d7** the bare hop's CPU (target \u2264 1.2\u00d7: **not met**)" in page
    assert "**1.15\u00d7** the bare hop's (target \u2264 1.2\u00d7: met)" in page
    assert "| gateway | 460,000 | 1.150\u00d7 |" in page
    assert "test machine; 2026-01-01 00:00 UTC" in page
    for plot in ("hops", "grants", "cold", "mesh", "jwt"):
        assert (tmp_path / "benchmarks" / f"{plot}.png").stat().st_size > 1000
        assert f"benchmarks/{plot}.png" in page

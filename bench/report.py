"""`make bench`: every part against its floor in one run, printed and written to docs/benchmarks.md with plots.

    uv run --no-sync python -m bench.report [--quick] [--out docs] [--no-write]

Runs, in order: each hop against its floor (bench.hops; SQLite and PostgreSQL), identity's grants
(bench.grants), the cold paths per mode (bench.cold), the mesh against none (bench.hops.mesh_rows), the
seed book's JWT table (bench.jwt_table) and the gateway's and the bare hop's instructions per request
(bench.instructions, valgrind: a count the machine's other work cannot move), then writes
`docs/benchmarks.md` and `docs/benchmarks/*.png` (matplotlib). `--quick` is a smoke run (short windows, SQLite
only, a small JWT table, no instruction counts): it checks the machinery, and its numbers are not for quoting;
it writes nothing unless `--out` is given.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench import cold, grants, hops, instructions, jwt_table
from bench.grants import Grant
from bench.hops import MeshRow, Row
from bench.instructions import Count
from bench.jwt_table import Timing

T = TypeVar("T")
TARGET_SERVICE = 1.5
TARGET_GATEWAY = 1.2


@dataclass(frozen=True)
class Plan:
    seconds: float
    dbs: tuple[str, ...]
    jwt_n: int
    phantom_tokens: int
    latency_requests: int
    mesh: bool = True
    #: Alternating floor/part rounds per comparison (bench.hops.compare).
    rounds: int = hops.ROUNDS
    #: Timed seconds per side of each hop comparison (`seconds` when not set).
    hop_seconds: float | None = None
    #: Timed requests per server for the instruction counts (bench.instructions); 0 leaves them out.
    instruction_requests: int = 2000

    @classmethod
    def full(cls) -> Plan:
        # The hop comparisons in twelve half-second windows per side (six rounds of floor, part, part, floor):
        # one window spoiled by the machine's other work then moves the median less (docs/performance.md).
        return cls(seconds=4.0, dbs=("sqlite", "postgres"), jwt_n=50_000, phantom_tokens=150, latency_requests=300,
                   rounds=6, hop_seconds=6.0)  # fmt: skip

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            seconds=0.5,
            dbs=("sqlite",),
            jwt_n=200,
            phantom_tokens=20,
            latency_requests=30,
            rounds=1,
            instruction_requests=0,
        )


@dataclass
class Results:
    plan: Plan
    machine: str
    started: str
    load: list[tuple[float, float]] = field(default_factory=list)  # (1-min load average) before, after
    hops: list[Row] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    cold: list[Row] = field(default_factory=list)
    mesh: list[MeshRow] = field(default_factory=list)
    jwt: list[Timing] = field(default_factory=list)
    instructions: list[Count] = field(default_factory=list)
    seconds: float = 0.0


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _timed(results: Results, label: str, step: Callable[[], T]) -> T:
    """Run one part, noting the load average before and after it (the tables quote it)."""
    before = os.getloadavg()[0]
    out = step()
    results.load.append((before, os.getloadavg()[0]))
    print(f"[{label}: load average {before:.2f} → {os.getloadavg()[0]:.2f}]", flush=True)
    return out


def run(plan: Plan) -> Results:
    t = time.time()
    results = Results(plan, machine(), datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    hop_seconds = plan.hop_seconds or plan.seconds
    results.hops = _timed(results, "hops", lambda: hops.run(hop_seconds, list(plan.dbs), plan.rounds))
    hops.print_rows(results.hops)
    results.grants = _timed(results, "grants", lambda: grants.run(max(plan.seconds, 1.0)))
    grants.print_grants(results.grants)
    results.cold = _timed(results, "cold", lambda: cold.run(plan.seconds, plan.phantom_tokens))
    cold.print_cold(results.cold)
    if plan.mesh:
        results.mesh = _timed(results, "mesh", lambda: hops.mesh_rows(plan.seconds, plan.latency_requests))
        hops.print_mesh(results.mesh)
    results.jwt = _timed(results, "jwt", lambda: jwt_table.run(plan.jwt_n))
    jwt_table.print_table(results.jwt)
    if plan.instruction_requests:
        results.instructions = _timed(results, "instructions", lambda: instructions.measure(
            plan.instruction_requests, hops.CONCURRENCY))  # fmt: skip
        instructions.print_counts(results.instructions)
    results.seconds = time.time() - t
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: short windows, nothing written")
    parser.add_argument("--out", type=Path, default=None, help="where benchmarks.md goes (default: docs/)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    results = run(Plan.quick() if args.quick else Plan.full())
    out = args.out or (None if args.quick or args.no_write else Path(__file__).resolve().parent.parent / "docs")
    if out is not None and not args.no_write:
        from bench.markdown import write  # matplotlib only when writing

        write(results, out)
        print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks'}/*.png")
    print(f"bench took {results.seconds:.0f} s")


if __name__ == "__main__":
    main()

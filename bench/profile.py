"""Where a request's CPU goes in todos or the gateway: py-spy samples the real process while the bench drives it.

    uv run --no-sync python -m bench.profile [todos|gateway] [--path /todos/whoami] [--seconds 5] [--top 25]

Starts the suite (passthrough, SQLite, free ports) and drives `--path` on the chosen process for
`--seconds` (16 requests in flight; alice's token for user endpoints, reminders' client-credentials token
for todos' whoami), while `py-spy record` samples that process — every thread, so the worker threads that
run sync handlers too, idle samples left out. Then it prints, from py-spy's collapsed stacks, the functions
with the most samples inclusive (the work under them) and own (the work in them), as shares of the busy
samples. The collapsed-stack file stays for flame graphs (`py-spy record --format flamegraph` the same
way). py-spy reads the process from outside (ptrace): the profiled code runs unchanged.
docs/performance.md, "Profiling".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path

import aiohttp
import uvloop

from bench.gateway import bearer, drive, mint, password_token
from bench.grants import _post_loop, basic
from bench.hops import PAGE, seed_todos, suite

#: Where an idle worker thread or event loop sits (py-spy cannot always tell idle from busy without pausing).
WAITING = frozenset({"Condition.wait", "Queue.get", "Runner.run", "_wait_for_eof", "Thread.join"})


async def _get_loop(url: str, token: str, seconds: float) -> int:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        result = await drive(session, url, lambda: bearer(token), concurrency=16, seconds=seconds, cap=10**9)
    if result.errors:
        raise RuntimeError(f"{result.errors} requests to {url} failed")
    return result.requests


def summarise(collapsed: Path, top: int) -> str:
    """The `top` functions by inclusive and by own samples, from py-spy's `--format raw` output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")") for f in stack.split(";")[1:]]
        if frames and frames[-1].split(" ")[0] in WAITING:
            continue  # an idle thread or loop, not work
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    lines = [f"{total} busy samples"]
    for title, counter in (("inclusive", inclusive), ("own", own)):
        lines.append(f"\n{title}:")
        lines += [f"  {n / total:6.1%}  {frame}" for frame, n in counter.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "process",
        choices=("todos", "gateway", "identity"),
        nargs="?",
        default="todos",
        help="identity: client-credentials grants (--path is ignored)",
    )
    parser.add_argument("--path", default="/todos/whoami", help="the todos path (the gateway gets /api in front)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None, help="the collapsed stacks (default: a temp file)")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-profile-")) / f"{args.process}.txt"
    with suite("sqlite") as s:

        async def go() -> int:
            token_url = f"{s.url('identity')}/token"
            alice = await password_token(token_url, "alice")
            await seed_todos(s.url("gateway"), alice, PAGE)
            token = alice
            if args.path.endswith("whoami") and args.process == "todos":
                (token,) = await mint(token_url, s.secrets["reminders"], 1)
            prefix = "/api" if args.process == "gateway" else ""
            url = f"{s.url(args.process)}{prefix}{args.path}"
            if args.process == "identity":
                cc = {"grant_type": "client_credentials", "audience": "todos"}
                auth = basic("reminders", s.secrets["reminders"])
                load = partial(_post_loop, f"{s.url('identity')}/token", cc, auth, concurrency=8)
            else:
                load = partial(_get_loop, url, token)
            await load(1.0)  # warm up first, then sample exactly while the load runs
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(s.pid(args.process)),
                "--duration", str(int(args.seconds)), "--rate", "250", "--format", "raw", "--output", str(out),
                "--nonblocking", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            requests = await load(args.seconds)
            await asyncio.wait_for(spy.wait(), 30)
            return requests

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            n = runner.run(go())
    print(f"{n} requests to {args.process} {args.path}; collapsed stacks: {out}")
    print(summarise(out, args.top))


if __name__ == "__main__":
    main()

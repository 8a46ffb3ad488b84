"""`make reset`: forget the local run state, so that the next `make up` starts as on a fresh clone.

It deletes what `make up` left in its run directory (`.run/` by default): the SQLite databases (todos, shares,
sessions, identity's users, keys and revocations), the logs, the mail sink's Maildir, the generated client
secrets (`dev-secrets.env`), the local mesh's PKI, Envoy configs and sockets (`mesh/`), and a private
PostgreSQL's data directory (`postgres/`). It keeps `k8s-tls/` (`make k8s-dev-tls`: a cluster's Secret was
made from it) and `k8s-tools/` (the k8s tests' kubectl). It stops nothing: while a `make up` runs from that
directory (its pid file names a live process) it refuses and says so. Databases on a PostgreSQL server need no
reset: `make up DB=postgres` drops and creates them at every start (devstack/postgres.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Written by `devstack up` while it runs (cli.py), removed when it stops.
PID_FILE = "devstack.pid"
#: Kept by a reset: not run state of `make up` — the cluster's development TLS (scripts/k8s-dev-tls) and the
#: kubectl the k8s tests fetched (tests/k8s/tools.py).
KEEP = frozenset({"k8s-tls", "k8s-tools"})


def running_pid(run_dir: Path) -> int | None:
    """The pid of the `devstack up` running from `run_dir`, if its pid file names a live process."""
    try:
        pid = int((run_dir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: does it exist (and may we signal it)?
    except ProcessLookupError:
        return None  # a pid file left by a `make up` that was killed: stale
    except PermissionError:
        pass  # alive, someone else's
    # A pid may be reused after a reboot or a kill: it counts only if that process is a devstack.
    # (`-ww`: ps would cut the arguments at $COLUMNS.)
    args = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True).stdout
    return pid if "devstack" in args else None


def reset(run_dir: Path) -> tuple[int, list[str]]:
    """(exit code, lines to print): delete the run state under `run_dir`, unless a suite runs from it."""
    if not run_dir.exists():
        return 0, [f"{run_dir}/ does not exist: nothing to reset"]
    pid = running_pid(run_dir)
    if pid is not None:
        return 1, [
            f"a suite is running from {run_dir}/ (devstack pid {pid}): stop it first (Ctrl-C in its terminal),",
            "then `make reset` again. Nothing was deleted.",
        ]
    removed = []
    for entry in sorted(run_dir.iterdir()):
        if entry.name in KEEP:
            continue
        if entry.is_dir() and not entry.is_symlink():
            removed.append(entry.name + "/")
            shutil.rmtree(entry)
        else:
            removed.append(entry.name)
            entry.unlink()
    if not removed:
        return 0, [f"{run_dir}/ holds no run state: nothing to reset"]
    kept = sorted(name for name in KEEP if (run_dir / name).exists())
    return 0, [
        f"deleted from {run_dir}/: {' '.join(removed)}",
        *([f"kept: {' '.join(kept)}"] if kept else []),
        "the next `make up` starts clean (new databases, secrets, keys and mesh PKI)",
    ]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="devstack reset", description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=Path(".run"))
    args = parser.parse_args(argv)
    code, lines = reset(args.run_dir)
    for line in lines:
        print(line, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`make up DB=postgres`: the suite on PostgreSQL without a cluster — the local server, or a private one.

- A server answering on 127.0.0.1:5432 (the project's machines run one; trust auth, user `postgres`) gets
  fresh databases, one per service, dropped and created at every start (`todo_suite_<gateway port>_<svc>`:
  two runs on different ports never share one).
- Otherwise a private cluster: `initdb` into `<run_dir>/postgres` once, then `postgres` itself in the
  foreground on a free port below 32768 (`fsync=off`: throw-away data), started and stopped with the suite
  on a lifeline like every other process (devstack/lifeline.py). As root it runs as the `postgres` user:
  PostgreSQL refuses to run as root.

The e2e database drill (tests/e2e/test_database_outage.py) uses `PrivateCluster` with `pg_ctl` instead, to
restart it under load.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from devstack.lifeline import guarded

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_answers(admin_url: str = LOCAL_SERVER) -> bool:
    try:
        psycopg.connect(admin_url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def fresh_databases(admin_url: str, prefix: str, names: list[str]) -> dict[str, str]:
    """An empty database per name (`<prefix>_<name>`, dropped first if it exists); name -> URL."""
    created = {name: f"{prefix}_{name}" for name in names}
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        for db in created.values():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    base = admin_url.rsplit("/", 1)[0]
    return {name: f"{base}/{db}" for name, db in created.items()}


def bindir() -> Path:
    """Where PostgreSQL's server programs are (Debian keeps them out of PATH)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not candidates:
        raise FileNotFoundError("no PostgreSQL server programs (initdb, postgres) found: install PostgreSQL")
    return candidates[-1]


@dataclass(frozen=True)
class PrivateCluster:
    """A throw-away PostgreSQL cluster of our own: `datadir`, listening on 127.0.0.1:`port` only."""

    datadir: Path
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def _run_as(self) -> str | None:
        # PostgreSQL will not run as root; the Debian package's `postgres` user owns it then.
        return "postgres" if os.geteuid() == 0 else None

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        user = self._run_as
        return subprocess.run(
            [str(bindir() / program), *args], check=True, capture_output=True, text=True,
            user=user, group=pwd.getpwnam(user).pw_gid if user else None,
        )  # fmt: skip

    def init(self) -> None:
        """`initdb` (trust auth for local connections: development only), unless already done."""
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "--no-sync")

    def options(self) -> list[str]:
        return [
            "-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", str(self.datadir),
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
        ]  # fmt: skip

    @property
    def run_as(self) -> str | None:
        """The user the server must run as (None: whoever we are)."""
        return self._run_as

    def foreground_cmd(self) -> list[str]:
        """`postgres` in the foreground (what devstack runs on a lifeline, as `run_as`)."""
        return [str(bindir() / "postgres"), "-D", str(self.datadir), *self.options()]

    def pg_ctl(self, action: str, *args: str) -> None:
        """`pg_ctl start|stop|restart` (`-w`: returns when it is done), logging to the data directory."""
        self._run(
            "pg_ctl", action, "-D", str(self.datadir), "-w", "-l", str(self.datadir / "server.log"),
            "-o", " ".join(self.options()), *args,
        )  # fmt: skip


@contextmanager
def running(cluster: PrivateCluster, log: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Run the cluster's server on a lifeline until the block ends; yields its admin URL once it answers."""
    cluster.init()
    with log.open("ab") as out:
        server = subprocess.Popen(
            # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
            guarded(cluster.foreground_cmd(), stop_signal=signal.SIGINT, user=cluster.run_as),
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not server_answers(cluster.admin_url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private PostgreSQL did not start; see {log}")
            time.sleep(0.1)
        yield cluster.admin_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        assert server.stdin is not None
        server.stdin.close()

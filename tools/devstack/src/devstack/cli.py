"""`devstack up` (what `make up` runs) and `devstack rotate-keys`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from authz import Mode
from authz.modes import service_mode
from devstack import doctor, postgres, reset
from devstack.ports import free_block, is_free
from devstack.registry import load_services
from devstack.reset import PID_FILE
from devstack.suite import DEFAULT_MODE, MODES, Suite, SuiteConfig, SuiteError, secret_env_name
from gateway.modes import gateway_mode

RUN_DIR = Path(".run")
#: The services that keep a database (SQLite files in the run directory, or PostgreSQL databases).
DATABASES = [name for name, service in load_services().items() if service.database]
#: How long `up` waits for the ports of a suite that is still stopping (Tilt restarts it at once).
PORT_WAIT_SECONDS = 10.0
USERS = (("alice", "alice", "user"), ("bob", "bob", "user"), ("carol", "carol", "user, admin"))
COLORS = {
    "identity": "35",
    "todos": "32",
    "reminders": "33",
    "shares": "36",
    "gateway": "34",
    "web": "94",
    "mailsink": "90",
    "traces": "90",
}


def _printer(use_color: bool):
    lock = threading.Lock()

    def on_line(name: str, line: str) -> None:
        tag = f"{name:>9} |"
        if use_color:
            tag = f"\033[{COLORS.get(name, '0')}m{tag}\033[0m"
        with lock:
            print(f"{tag} {line}", flush=True)

    return on_line


def _mesh_rows(suite: Suite) -> list[str]:
    mesh = suite.mesh
    assert mesh is not None
    pki = mesh.layout.pki
    sockets = mesh.layout.inbound["todos"].parent
    return [
        "  mesh: todos, reminders and shares have no TCP port; every sidecar listener but the public two is a",
        f"        Unix socket only you can use ({sockets}/, mode 0700), the services' take mTLS only",
        f"  certificates (new CA this run): {pki.directory}/   sockets: {suite.config.run_dir}/mesh/layout.json",
        "  try it: reminders may only GET /todos/due —",
        f"    curl -sk --unix-socket {mesh.layout.inbound['todos']} --cert {pki.certificate('reminders')} "
        f"--key {pki.key('reminders')} -X POST https://todos/todos   → 403 RBAC: access denied",
    ]


def _banner(suite: Suite, databases: str) -> str:
    cfg = suite.config
    public = ("identity", "gateway", "web") if cfg.mesh else tuple(cfg.ports)
    shown = [name for name in cfg.ports if name not in ("mailsink", "traces") and name in public]
    rows = [f"  {name:<9} {cfg.url(name)}" for name in shown]
    rows.insert(0, f"  open the web UI: {cfg.url('web')}/  (sign in as alice, bob or carol)")
    rows.append(f"  through the gateway: {cfg.url('gateway')}/api/<todos|shares|reminders>/…")
    rows.append(f"  mail sink smtp://127.0.0.1:{cfg.ports['mailsink']}  (messages land in {cfg.maildir}/new/)")
    if cfg.traces:
        where = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        rows.append(f"  traces    {cfg.url('traces')}/traces  (OTLP/HTTP receiver, docs/observability.md)" if not where
                    else f"  traces    exported to {where} (OTEL_EXPORTER_OTLP_ENDPOINT)")  # fmt: skip
    logins = [f"  {u}/{p}  ({roles})" for u, p, roles in USERS]
    token_cmd = (
        f"curl -s {cfg.url('identity')}/token -d grant_type=password -d client_id=todo-cli "
        "-d username=alice -d password=alice"
    )
    service_side, edge_side = service_mode(Mode(cfg.mode)), gateway_mode(Mode(cfg.mode))
    warning = []
    if service_side.unsafe_without_mesh and not cfg.mesh:
        warning = [
            "",
            f"!!! {cfg.mode.upper()} MODE WITHOUT THE MESH — INSECURE DEMO !!!",
            "!!! todos, shares and reminders trust whatever reaches them: anyone who can reach them",
            "!!! (ports 8001-8003) can forge any user. This is the lesson of the mode; never deploy it.",
        ]
    notes = [
        f"Mode {cfg.mode}: the gateway {edge_side.summary};",
        f"  a service sees {service_side.summary}.",
        *([f"  The gateway's JWKS: {cfg.url('gateway')}/.well-known/jwks.json"] if edge_side.issues_tokens else []),
        *(
            ["  Edge clients get opaque tokens; only the gateway resolves them."]
            if edge_side.opaque_edge_tokens
            else []
        ),
    ]
    return "\n".join([
        *warning,
        "",
        f"todo-suite is up (mode: {cfg.mode}{', mesh on' if cfg.mesh else ''}, databases: {databases}). "
        "Ctrl-C stops everything.",
        *rows,
        *(_mesh_rows(suite) if cfg.mesh else []),
        "Demo logins (development only):",
        *logins,
        "Get a token for alice:",
        f"  {token_cmd}",
        f"Generated client secrets for this run: {cfg.run_dir}/dev-secrets.env",
        *notes,
        "",
    ])  # fmt: skip


def _ports(config: SuiteConfig) -> dict[str, int]:
    """The TCP ports this run listens on: with the mesh, only the public ones (all else is a Unix socket)."""
    if not config.mesh:
        return dict(config.ports)
    return {
        name: port
        for name, port in config.ports.items()
        if name in ("identity", "mailsink", "gateway", "web", "traces")
    }


def _taken_ports(config: SuiteConfig, wait: float) -> list[str]:
    """The ports still taken after waiting up to `wait` seconds: a suite that was just told to stop (Tilt
    restarts its command as soon as the old one exits) frees them within a moment."""
    deadline = time.monotonic() + wait
    while True:
        taken = [f"{name} needs 127.0.0.1:{port}" for name, port in _ports(config).items() if not is_free(port)]
        if not taken or time.monotonic() > deadline:
            return taken
        time.sleep(0.2)


@contextlib.contextmanager
def _databases(args: argparse.Namespace, config: SuiteConfig) -> Iterator[tuple[dict[str, str], str]]:
    """(URLs per service, a phrase for the banner): SQLite files, or PostgreSQL (docs/reliability.md)."""
    if args.db == "sqlite":
        yield {}, f"SQLite in {config.run_dir}/"
        return
    prefix = f"todo_suite_{config.ports['gateway']}"
    if postgres.server_answers(args.pg_url):
        yield postgres.fresh_databases(args.pg_url, prefix, DATABASES), f"PostgreSQL at {args.pg_url}, {prefix}_*"
        return
    # No server: a private one for this run, on a free port below the ephemeral range.
    cluster = postgres.PrivateCluster(config.run_dir.absolute() / "postgres", free_block(1, low=20000, high=32767))
    with postgres.running(cluster, config.run_dir / "logs" / "postgres.log") as admin_url:
        yield postgres.fresh_databases(admin_url, prefix, DATABASES), f"a private PostgreSQL at {admin_url}"


def up(args: argparse.Namespace) -> int:
    ports = SuiteConfig(run_dir=args.run_dir).ports | dict(args.port)
    config = SuiteConfig(run_dir=args.run_dir, ports=ports, mode=args.mode, mesh=args.mesh)
    taken = _taken_ports(config, PORT_WAIT_SECONDS)
    if taken:
        print("Cannot start: a port is taken (is another `make up` running?)", file=sys.stderr)
        for line in taken:
            print(f"  {line}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    # Ctrl-C, SIGTERM (Tilt, kill) and SIGHUP (the terminal closed) all mean: stop every process we started,
    # then exit. Set explicitly, since a shell starts background jobs with SIGINT ignored. Should we be
    # killed instead, the children stop by themselves (devstack/lifeline.py).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.set())
    (config.run_dir / "logs").mkdir(parents=True, exist_ok=True)
    # While this runs, `make reset` refuses to delete the run directory under it (devstack/reset.py).
    pid_file = config.run_dir / PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        with _databases(args, config) as (urls, databases):
            config.database_urls = urls
            suite = Suite(config, on_line=_printer(sys.stdout.isatty() and not os.environ.get("NO_COLOR")))
            with suite:
                print(_banner(suite, databases), flush=True)
                while not stopping.is_set():
                    dead = [(name, code) for name, code in suite.running() if code is not None]
                    if dead:
                        print(f"{dead[0][0]} exited with code {dead[0][1]}: stopping the suite", file=sys.stderr)
                        return 1
                    stopping.wait(0.5)
    except (SuiteError, RuntimeError) as e:
        print(f"Cannot start: {e}", file=sys.stderr)
        return 1
    finally:
        pid_file.unlink(missing_ok=True)
    print("\nstopped.", flush=True)
    return 0


def _port(text: str) -> tuple[str, int]:
    name, sep, port = text.partition("=")
    if not sep or not port.isdigit() or name not in SuiteConfig(run_dir=RUN_DIR).ports:
        names = ", ".join(SuiteConfig(run_dir=RUN_DIR).ports)
        raise argparse.ArgumentTypeError(f"expected NAME=PORT with NAME one of {names}, got {text!r}")
    return name, int(port)


def _secret(name: str, run_dir: Path = RUN_DIR) -> str:
    path = run_dir / "dev-secrets.env"
    if not path.exists():
        raise SystemExit(f"{path} not found: is `make up` running?")
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == secret_env_name(name):
            return value
    raise SystemExit(f"no secret for {name} in {path}")


def rotate_keys(args: argparse.Namespace) -> int:
    secret = _secret("identity-admin", args.run_dir)
    response = httpx.post(f"{args.identity}/admin/keys", auth=("identity-admin", secret))
    print(response.text)
    return 0 if response.status_code == 201 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description="Run todo-suite locally, no cluster needed.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the whole suite in the foreground")
    p_up.add_argument("--mode", choices=MODES, default=os.environ.get("MODE") or DEFAULT_MODE)
    p_up.add_argument(
        "--mesh",
        action="store_true",
        default=os.environ.get("MESH", "") not in ("", "0", "false"),
        help="every app behind Envoy sidecars: mTLS and the peer policy of mesh/policy.yaml (docs/mesh.md)",
    )
    p_up.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        default=os.environ.get("DB") or "sqlite",
        help="postgres: fresh databases on the server at --pg-url if it answers, else a private server",
    )
    p_up.add_argument("--pg-url", default=postgres.LOCAL_SERVER, help="an admin URL of a PostgreSQL server")
    p_up.add_argument("--run-dir", type=Path, default=RUN_DIR, help="logs, SQLite files, secrets (default: .run)")
    p_up.add_argument(
        "--port",
        type=_port,
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="listen elsewhere than the defaults (repeatable), e.g. --port gateway=18080 --port identity=19000",
    )
    p_up.set_defaults(func=up)
    p_rot = sub.add_parser("rotate-keys", help="publish a new signing key at identity (publish-first rotation)")
    p_rot.add_argument("--identity", default="http://127.0.0.1:9000")
    p_rot.add_argument("--run-dir", type=Path, default=RUN_DIR)
    p_rot.set_defaults(func=rotate_keys)
    p_doc = sub.add_parser("doctor", help="is this machine ready? Python, uv, ports, Envoy, curl, jq, Chromium, ...")
    p_doc.set_defaults(func=lambda _: doctor.main())
    p_reset = sub.add_parser("reset", help="delete the run state (databases, secrets, mesh PKI) unless a suite runs")
    p_reset.add_argument("--run-dir", type=Path, default=RUN_DIR)
    p_reset.set_defaults(func=lambda a: reset.main(["--run-dir", str(a.run_dir)]))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

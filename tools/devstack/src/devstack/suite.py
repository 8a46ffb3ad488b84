"""The suite as local processes: each service a real uvicorn process on loopback.

`make up` and the e2e tests both start it through `Suite`, so the tests run exactly what a learner
runs. Development secrets are generated here, at start-up, and handed to identity and to the one
service that owns each; nothing secret is committed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from authz import Mode
from authz.modes import service_mode
from devstack.lifeline import guarded
from devstack.mesh import APPS, GATEWAY_JWKS_PATH, INTROSPECT_PATH, LocalMesh
from devstack.ports import is_free
from devstack.registry import load_services
from gateway.modes import gateway_mode
from identity.settings import DEMO_REALM

#: Confidential clients of the demo realm (services/identity/src/identity/demo_realm.toml).
CONFIDENTIAL_CLIENTS = ("reminders", "shares", "gateway", "identity-admin", "web")
#: The boundary modes, as named on the command line (`make up MODE=…`).
MODES = tuple(mode.value for mode in Mode)
DEFAULT_MODE = Mode.PASSTHROUGH.value


def edge_clients() -> list[str]:
    """The demo realm's edge clients (`edge = true`): those whose users' tokens the gateway accepts."""
    realm = tomllib.loads(DEMO_REALM.read_text())
    return [client["client_id"] for client in realm.get("clients", []) if client.get("edge")]


def secret_env_name(client_id: str) -> str:
    return "IDENTITY_CLIENT_SECRET_" + client_id.upper().replace("-", "_")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    cmd: list[str]
    port: int
    env: dict[str, str]
    #: How readiness is checked: GET `health_path` on `port` ("http") or a TCP connect ("tcp", the mail sink).
    health: str = "http"
    #: With the mesh, an app's `port` is its sidecar's probe listener; an Envoy's, its admin (`/ready`).
    health_path: str = "/healthz"
    #: The Unix socket the process listens on (the mesh), removed before a (re)start: a stale one blocks bind.
    uds: Path | None = None
    #: With the mesh, `health_path` is asked on this Unix socket instead of `port` (a sidecar's probe
    #: listener for an app, its admin interface for an Envoy).
    health_socket: Path | None = None


#: uvicorn's access log is off unless UVICORN_ACCESS_LOG=true is set: one line per request written to a pipe
#: cost about a fifth of the gateway's CPU per forwarded request (docs/performance.md, Profiling); the
#: request id the gateway tags every answer with, the mesh's Envoy logs and the services' own logs remain.
ACCESS_LOG_DEFAULT = {"UVICORN_ACCESS_LOG": "false"}


#: uvicorn believes `X-Forwarded-For` and `X-Forwarded-Proto` from 127.0.0.1 by default and puts that address
#: in the request's `client`. Locally every client is on 127.0.0.1, so anyone could name any address: to the
#: gateway, which vouches to the services for the address it saw (`X-Forwarded-For`), and to identity's
#: per-address login throttle. No process here takes those headers from uvicorn; identity reads its trusted
#: proxy's header itself (`IDENTITY_CLIENT_ADDRESS_HEADER`). Ref: https://www.uvicorn.org/settings/#http
NO_PROXY_HEADERS = ("--no-proxy-headers",)


def uvicorn_cmd(app: str, port: int, uds: Path | None = None) -> list[str]:
    """The app's server; with `uds` it listens on that Unix socket only, mode 0600 (the mesh: its sidecar's
    upstream; devstack/uds_app.py)."""
    if uds is not None:
        return [sys.executable, "-m", "devstack.uds_app", app, str(uds)]
    return [
        sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--timeout-graceful-shutdown", "3", *NO_PROXY_HEADERS,
    ]  # fmt: skip


class _UnixHTTPConnection(http.client.HTTPConnection):
    # (Not httpx's `uds=`: its sync transport leaves the socket open when connect(2) fails, as it does
    # until the process has bound it.)
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=1.0)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._path))


def health_status(spec: ServiceSpec) -> int:
    """The status of GET `health_path`: on the process's port, or (the mesh) on its health socket."""
    if spec.health_socket is None:
        return httpx.get(f"http://127.0.0.1:{spec.port}{spec.health_path}", timeout=1.0).status_code
    conn = _UnixHTTPConnection(spec.health_socket)
    try:
        conn.request("GET", spec.health_path)
        return conn.getresponse().status
    finally:
        conn.close()


#: Where the web UI (a confidential client of the code flow) listens when `ports` does not name it.
WEB_DEFAULT_PORT = 8000


@dataclass
class SuiteConfig:
    """Where and how to run the suite. The defaults are the local contract of docs/architecture.md."""

    run_dir: Path
    #: services.yaml's ports, and the mail sink's SMTP port.
    ports: dict[str, int] = field(
        default_factory=lambda: (
            {name: s.port for name, s in load_services().items()} | {"mailsink": 1025, "traces": 4318}
        )
    )
    database_urls: dict[str, str] = field(default_factory=dict)  # default: SQLite files in run_dir
    mode: str = DEFAULT_MODE
    #: Publish-first rotation: the delay between a key appearing in the JWKS and signing.
    key_publish_delay_seconds: float = 10.0
    jwks_min_refetch_seconds: float = 5.0
    #: How often reminders scans for due todos in the background (0: only on demand).
    reminders_interval_seconds: float = 60.0
    extra_env: dict[str, str] = field(default_factory=dict)
    #: `phantom`: how long the gateway reuses a resolved opaque token (the longest a revoked one still passes).
    phantom_cache_seconds: float = 30.0
    #: More services behind the gateway, name -> (url, audience its edge tokens must name). The attack
    #: matrix adds a spy (a "compromised service") this way; each gets its own extract key too.
    extra_upstreams: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The local mesh (devstack/mesh.py): every app behind Envoy sidecars, mTLS and the peer policy.
    mesh: bool = False
    #: Run the web UI (services/web). The e2e suites that drive no browser leave it out: its port is then
    #: where tests/e2e/test_sign_in.py's own relying party listens for identity's redirect.
    web: bool = True

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def traces(self) -> bool:
        """Whether the local trace receiver runs (telemetry.receiver): it does where it has a port."""
        return "traces" in self.ports

    def database_url(self, name: str) -> str:
        return self.database_urls.get(name) or f"sqlite:///{self.run_dir / (name + '.db')}"

    @property
    def maildir(self) -> Path:
        """Where the mail sink keeps what it receives (a Maildir: one file per message)."""
        return self.run_dir / "mail"


#: The services behind the gateway; in `extract` mode each shares a key with it (generated per run).
API_SERVICES = tuple(name for name, service in load_services().items() if service.api)


def generate_secrets() -> dict[str, str]:
    """A fresh secret per confidential client (development only; regenerated at every start)."""
    return {client: secrets.token_urlsafe(24) for client in CONFIDENTIAL_CLIENTS}


def extract_key() -> str:
    """A fresh key for the gateway's signed requests to one service: 32 random bytes, 43 characters."""
    return secrets.token_urlsafe(32)


def generate_extract_keys() -> dict[str, str]:
    """A fresh key per service for the gateway's signed requests (development only)."""
    return {service: extract_key() for service in API_SERVICES}


def web_url(config: SuiteConfig) -> str:
    return f"http://127.0.0.1:{config.ports.get('web', WEB_DEFAULT_PORT)}"


def client_uris(config: SuiteConfig) -> dict[str, dict[str, list[str]]]:
    """The `web` client's redirect and post-logout URIs for this run's port: identity matches them exactly,
    so they are written per run (IDENTITY_CLIENT_URIS) rather than widened to "any port"."""
    base = web_url(config)
    return {"web": {"redirect_uris": [f"{base}/auth/callback"], "post_logout_redirect_uris": [f"{base}/"]}}


def gateway_jwks_url(config: SuiteConfig) -> str:
    return f"{config.url('gateway')}/.well-known/jwks.json"


def reissue_env(config: SuiteConfig) -> dict[str, str]:
    """`reissue`: the gateway is an issuer too (of the internal tokens), at its own URL."""
    return {
        "GATEWAY_ISSUER": config.url("gateway"),
        "AUTHZ_GATEWAY_ISSUER": config.url("gateway"),
        "AUTHZ_GATEWAY_JWKS_URL": gateway_jwks_url(config),
    }


def service_specs(
    config: SuiteConfig,
    client_secrets: dict[str, str],
    extract_keys: dict[str, str] | None = None,
    mesh: LocalMesh | None = None,
) -> list[ServiceSpec]:
    """The processes to start, in order (identity first: everyone discovers it); with `mesh`, each app's
    sidecars just before it."""
    if config.mode not in MODES:
        raise ValueError(f"unknown mode {config.mode!r}; one of {', '.join(MODES)}")
    # What the mode needs of the suite comes from the two registries (authz.modes, gateway.modes).
    service_side, edge_side = service_mode(Mode(config.mode)), gateway_mode(Mode(config.mode))
    issuer = config.url("identity")
    extract_keys = extract_keys or generate_extract_keys()
    edge = edge_clients()
    common = {
        "AUTHZ_ISSUER": issuer,
        "AUTHZ_MODE": config.mode,
        "AUTHZ_JWKS_MIN_REFETCH_SECONDS": str(config.jwks_min_refetch_seconds),
        "PYTHONUNBUFFERED": "1",
        # Without the mesh a service cannot tell the gateway from anyone else: a mode that then trusts anyone
        # runs only as the demo of what goes wrong (and says so loudly in its log). With it, the peer decides.
        **(
            {"AUTHZ_MESH": "true"}
            if mesh
            else {"AUTHZ_INSECURE_DEMO": "true"}
            if service_side.unsafe_without_mesh
            else {}
        ),
        **(reissue_env(config) if edge_side.issues_tokens else {}),
        **telemetry_env(config, os.environ),
        **config.extra_env,
    }
    identity_env = {
        **common,
        "IDENTITY_ENV": "dev",
        "IDENTITY_ISSUER": issuer,
        "IDENTITY_DATABASE_URL": config.database_url("identity"),
        "IDENTITY_ALLOW_PASSWORD_GRANT": "true",
        "IDENTITY_KEY_PUBLISH_DELAY_SECONDS": str(config.key_publish_delay_seconds),
        "IDENTITY_CLIENT_URIS": json.dumps(client_uris(config)),
        **{secret_env_name(c): s for c, s in client_secrets.items()},
        # phantom: the edge clients get opaque tokens; the JWTs stay inside.
        **({"IDENTITY_OPAQUE_TOKEN_CLIENTS": json.dumps(edge)} if edge_side.opaque_edge_tokens else {}),
        # reissue: services exchange the gateway's internal tokens here (shares acting for a user at todos).
        **(
            {"IDENTITY_TRUSTED_SUBJECT_ISSUERS": json.dumps({config.url("gateway"): gateway_jwks_url(config)})}
            if edge_side.issues_tokens
            else {}
        ),
    }
    todos_env = {
        **common,
        "AUTHZ_AUDIENCE": "todos",
        "AUTHZ_EXTRACT_KEY": extract_keys["todos"],
        "TODOS_ENV": "dev",
        "TODOS_DATABASE_URL": config.database_url("todos"),
    }
    reminders_env = {
        **common,
        "AUTHZ_AUDIENCE": "reminders",
        "AUTHZ_EXTRACT_KEY": extract_keys["reminders"],
        "REMINDERS_ENV": "dev",
        "REMINDERS_DATABASE_URL": config.database_url("reminders"),
        "REMINDERS_TODOS_URL": config.url("todos"),
        "REMINDERS_CLIENT_SECRET": client_secrets["reminders"],
        "REMINDERS_SMTP_HOST": "127.0.0.1",
        "REMINDERS_SMTP_PORT": str(config.ports["mailsink"]),
        "REMINDERS_INTERVAL_SECONDS": str(config.reminders_interval_seconds),
    }
    shares_env = {
        **common,
        "AUTHZ_AUDIENCE": "shares",
        "AUTHZ_EXTRACT_KEY": extract_keys["shares"],
        "SHARES_ENV": "dev",
        "SHARES_DATABASE_URL": config.database_url("shares"),
        "SHARES_TODOS_URL": config.url("todos"),
        "SHARES_CLIENT_SECRET": client_secrets["shares"],
    }
    gateway_env = {
        **common,
        "GATEWAY_ENV": "dev",
        "GATEWAY_UPSTREAMS": json.dumps(
            {svc: config.url(svc) for svc in API_SERVICES}
            | {name: url for name, (url, _) in config.extra_upstreams.items()}
        ),
        # The clients whose users' tokens the edge accepts: those the realm marks `edge = true`.
        "GATEWAY_EDGE_CLIENTS": json.dumps(edge),
        # The gateway's own client at identity (phantom: it introspects opaque tokens).
        "GATEWAY_CLIENT_SECRET": client_secrets["gateway"],
        "GATEWAY_PHANTOM_CACHE_SECONDS": str(config.phantom_cache_seconds),
        "GATEWAY_AUDIENCES": json.dumps({name: aud for name, (_, aud) in config.extra_upstreams.items()}),
        "GATEWAY_EXTRACT_KEYS": json.dumps(extract_keys | {name: extract_key() for name in config.extra_upstreams}),
    }
    web_env = {
        **common,
        "WEB_ENV": "dev",
        "WEB_PUBLIC_URL": web_url(config),
        "WEB_DATABASE_URL": config.database_url("web"),
        "WEB_GATEWAY_URL": config.url("gateway"),
        "WEB_CLIENT_SECRET": client_secrets["web"],
        # The journey view reads the local trace receiver (docs/web.md#the-token-journey-view).
        **({"WEB_TRACES_URL": config.url("traces")} if config.traces else {}),
    }
    envs = {"identity": identity_env, "todos": todos_env, "reminders": reminders_env, "shares": shares_env,
            "gateway": gateway_env, "web": web_env}  # fmt: skip
    for name, env in envs.items():
        env.setdefault("OTEL_SERVICE_NAME", name)  # one name per process, even where the developer set one
    if mesh is not None:
        for name, overrides in mesh_env(config, mesh).items():
            envs[name].update(overrides)
    # The development mail sink: an RFC 5321 server that files every message in a Maildir.
    mailsink_cmd = [
        sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{config.ports['mailsink']}",
        "-c", "aiosmtpd.handlers.Mailbox", str(config.maildir),
    ]  # fmt: skip
    mailsink = ServiceSpec("mailsink", mailsink_cmd, config.ports["mailsink"], {"PYTHONUNBUFFERED": "1"}, health="tcp")
    specs = [traces_spec(config)] if config.traces else []
    for name in APPS:
        if name == "web" and not config.web:
            continue
        app = f"{name}.app:create_app"
        if mesh is None:
            specs.append(ServiceSpec(name, uvicorn_cmd(app, config.ports[name]), config.ports[name], envs[name]))
        else:
            specs += [ServiceSpec(sidecar, mesh.envoy_cmd(cfg), 0, {}, health_path="/ready", health_socket=admin)
                      for sidecar, cfg, admin in mesh.sidecars(name)]  # fmt: skip
            # Ready when its sidecar's probe listener gets a 200 from /healthz: the whole path works.
            specs.append(ServiceSpec(name, uvicorn_cmd(app, 0, uds=mesh.socket(name)), 0, envs[name],
                                     uds=mesh.socket(name), health_socket=mesh.layout.probe[name]))  # fmt: skip
        if name == "identity":
            specs.append(mailsink)
    return specs


def telemetry_env(config: SuiteConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Every process exports its spans to the local trace receiver, unless the developer named another
    OTLP endpoint (then everything goes there: the standard variable, inherited as it is). Development
    only: spans carry the decoded tokens each hop received (docs/observability.md)."""
    env = {"AUTHZ_TRACE_TOKEN_CONTENTS": "true"}
    if config.traces and "OTEL_EXPORTER_OTLP_ENDPOINT" not in environ:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = config.url("traces")
    if "OTEL_BSP_SCHEDULE_DELAY" not in environ:
        env["OTEL_BSP_SCHEDULE_DELAY"] = "500"  # ms: a request shows in the journey view within a second
    return env


def traces_spec(config: SuiteConfig) -> ServiceSpec:
    """The local OTLP/HTTP receiver (telemetry.receiver), a tool process like the mail sink."""
    cmd = [sys.executable, "-m", "telemetry.receiver", "--host", "127.0.0.1", "--port", str(config.ports["traces"])]
    return ServiceSpec("traces", cmd, config.ports["traces"], {"PYTHONUNBUFFERED": "1"})


def mesh_env(config: SuiteConfig, mesh: LocalMesh) -> dict[str, dict[str, str]]:
    """With the mesh, every call between the apps leaves through the caller's sidecar (devstack/mesh.py)."""
    env: dict[str, dict[str, str]] = {name: mesh.unix_sockets_env(name) for name in APPS}
    gateway_issues_tokens = gateway_mode(Mode(config.mode)).issues_tokens
    for name in ("todos", "reminders", "shares", "gateway"):
        env[name] |= mesh.identity_env(name)
        if gateway_issues_tokens and name != "gateway":
            env[name]["AUTHZ_GATEWAY_JWKS_URL"] = mesh.out(name, "gateway", GATEWAY_JWKS_PATH)
    # The web UI reaches identity (tokens, keys, logout) and the gateway (the API) through its sidecar too,
    # like the gateway does; the browser still reaches it on its public port.
    env["web"]["AUTHZ_IDENTITY_URL"] = mesh.out("web", "identity")
    env["web"]["WEB_GATEWAY_URL"] = mesh.out("web", "gateway")
    env["reminders"]["REMINDERS_TODOS_URL"] = mesh.out("reminders", "todos")
    env["shares"]["SHARES_TODOS_URL"] = mesh.out("shares", "todos")
    env["gateway"]["GATEWAY_INTROSPECTION_URL"] = mesh.out("gateway", "identity", INTROSPECT_PATH)
    env["gateway"]["GATEWAY_UPSTREAMS"] = json.dumps(
        {svc: mesh.out("gateway", svc) for svc in API_SERVICES}
        # Test doubles behind the gateway (the attack matrix's spy) are not workloads of the mesh.
        | {name: url for name, (url, _) in config.extra_upstreams.items()}
    )
    if gateway_issues_tokens:
        gateway_jwks = mesh.out("identity", "gateway", GATEWAY_JWKS_PATH)
        env["identity"]["IDENTITY_TRUSTED_SUBJECT_ISSUERS"] = json.dumps({config.url("gateway"): gateway_jwks})
    return env


#: The order of start-up (`Suite.start`): a wave starts when the one before it is healthy. A sidecar
#: (`todos-inbound`) goes with its workload.
START_WAVES = (("traces", "identity", "mailsink"), ("todos",), ("reminders", "shares", "gateway"), ("web",))


class SuiteError(RuntimeError):
    """The suite could not start (a port taken, a process that died or never became healthy)."""


class Suite:
    """Starts the suite's processes, waits until each answers `/healthz`, and stops them all.

    Use as a context manager. Each process runs on a lifeline (devstack/lifeline.py): its stdin is a pipe
    whose other end only this object holds, so when this Python process ends, however it ends, every
    child stops by itself. Each also gets its own session (process group): a terminal's Ctrl-C reaches
    devstack alone, which stops the children in order — SIGTERM to each, then SIGKILL to the group of whatever
    has not exited after a grace period. `on_line` decides where a process's log lines go besides its
    log file: a callback that prefixes and prints them (`make up`).
    """

    def __init__(
        self,
        config: SuiteConfig,
        *,
        on_line: Callable[[str, str], None] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.secrets = generate_secrets()
        self.mesh = self._generate_mesh() if config.mesh else None
        self.specs = service_specs(config, self.secrets, mesh=self.mesh)
        self._on_line = on_line
        self._timeout = startup_timeout
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._lifelines: dict[str, IO[bytes]] = {}

    def url(self, name: str) -> str:
        return self.config.url(name)

    def _generate_mesh(self) -> LocalMesh:
        cfg = self.config
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        public = {name: cfg.ports[name] for name in ("gateway", "identity", *(("web",) if cfg.web else ()))}
        return LocalMesh.generate(cfg.run_dir, public)

    def log_path(self, name: str) -> Path:
        return self.config.run_dir / "logs" / f"{name}.log"

    def __enter__(self) -> Suite:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        (self.config.run_dir / "logs").mkdir(exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            (self.config.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._write_secrets_file()
        # In waves, each started together and awaited together: a process's start-up is mostly imports,
        # so on two cores a wave of three takes little longer than one. The order is what start-up needs:
        # every service fetches identity's keys; reminders' first scan calls todos.
        for wave in START_WAVES:
            started = [spec for spec in self.specs if spec.name.split("-")[0] in wave]
            for spec in started:
                self._launch(spec)
            for spec in started:
                self._wait_healthy(spec)

    def _launch(self, spec: ServiceSpec) -> None:
        if spec.uds is not None:
            spec.uds.unlink(missing_ok=True)
        env = {**ACCESS_LOG_DEFAULT, **os.environ, **spec.env}
        log = self._logs[spec.name] = self.log_path(spec.name).open("ab")
        proc = subprocess.Popen(
            guarded(spec.cmd),
            env=env,
            stdin=subprocess.PIPE,  # the lifeline: never written, closed when we are gone
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path.cwd(),
        )
        assert proc.stdin is not None
        self._procs[spec.name] = proc
        self._lifelines[spec.name] = proc.stdin
        thread = threading.Thread(target=self._pump, args=(spec.name, proc, log), daemon=True)
        thread.start()
        self._threads[spec.name] = thread

    def _pump(self, name: str, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            log.write(raw)
            log.flush()
            if self._on_line:
                self._on_line(name, raw.decode(errors="replace").rstrip())
        proc.stdout.close()

    def _wait_healthy(self, spec: ServiceSpec) -> None:
        deadline = time.monotonic() + self._timeout
        url = f"http://127.0.0.1:{spec.port}{spec.health_path}"
        if spec.health_socket is not None:
            url = f"{spec.health_path} on {spec.health_socket}"
        proc = self._procs[spec.name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SuiteError(f"{spec.name} exited with code {proc.returncode}:\n{self.log_tail(spec.name)}")
            if spec.health == "tcp":
                if not is_free(spec.port):
                    return
            else:
                try:
                    if health_status(spec) == 200:
                        return
                except (httpx.HTTPError, OSError, http.client.HTTPException):
                    pass
            time.sleep(0.1)
        raise SuiteError(f"{spec.name} did not answer {url} within {self._timeout:.0f}s:\n{self.log_tail(spec.name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def pid(self, name: str) -> int:
        """The process id of a running service (tests inspect what it listens on)."""
        return self._procs[name].pid

    def running(self) -> Iterator[tuple[str, int | None]]:
        for name, proc in self._procs.items():
            yield name, proc.poll()

    def restart(self, name: str) -> None:
        """Stop one service and start it again (its database stays): what a pod restart does."""
        spec = next(s for s in self.specs if s.name == name)
        self._terminate([self._procs.pop(name)], grace=5.0)
        self._threads.pop(name).join(timeout=2)
        self._logs.pop(name).close()
        self._lifelines.pop(name).close()
        self._launch(spec)
        self._wait_healthy(spec)

    def stop(self, grace: float = 5.0) -> None:
        self._terminate(list(self._procs.values()), grace)
        for thread in self._threads.values():
            thread.join(timeout=2)
        for log in self._logs.values():
            log.close()
        for lifeline in self._lifelines.values():
            lifeline.close()
        self._procs.clear()
        self._threads.clear()
        self._lifelines.clear()

    @staticmethod
    def _terminate(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
        # SIGTERM to the process we started (a lifeline wrapper passes its program the stop signal it needs);
        # SIGKILL, if it comes to that, to its whole group: the wrapper and its program together.
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def _write_secrets_file(self) -> None:
        """`.run/dev-secrets.env`: this run's generated client secrets, for curl lines and `make rotate-keys`."""
        path = self.config.run_dir / "dev-secrets.env"
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        lines = ["# Development secrets generated by `make up` for this run only. Not for production.\n"]
        lines += [f"{secret_env_name(c)}={s}\n" for c, s in self.secrets.items()]
        path.write_text("".join(lines))

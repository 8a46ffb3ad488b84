"""Fixtures for the shares tests: fake identity and todos on one mock network, a fresh SQLite database per
test, and named callers.

Every outbound call of the app goes through one `httpx.MockTransport` (`network`), which routes by host:

- `identity.test` (`FakeIdentity`): discovery (advertising its token endpoint), the JWKS of a
  `FakeIssuer`, `/token` (client credentials and RFC 8693 token exchange, with the checks identity makes)
  and `/users` (the directory). Inbound tokens are verified by the real `authz` verifier against it.
- `todos.test` (`FakeTodos`): the grant endpoints, one todo and "shared with me", deciding like todos (404 not
  visible, 403 not the owner) and accepting only tokens that shares exchanged; or a forced answer.

The callers (Polar's style, from the shared plugin `authz.pytest_plugin`, with `issuer` and `client`):
`alice`, `bob` and `carol` are users; each fixture is the request headers for that caller (a dict with
`.token`, `.sub` and `.username` attached). `make_caller` here also tells the fake identity of the token.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import authz
from authz.pytest_plugin import ALICE_SUB, BOB_SUB, CAROL_SUB, ISSUER
from authz.testing import Caller, FakeIssuer
from servicekit.testing import watch_event_loop
from shares.app import create_app
from shares.models import Share
from shares.settings import Settings

#: Autouse: every test fails if the app blocked its event loop (servicekit.loopwatch).
free_event_loop = pytest.fixture(autouse=True)(watch_event_loop)

TODOS_URL = "http://todos.test"
AUDIENCE = "shares"
CLIENT_ID = "shares"
CLIENT_SECRET = "shares-test-secret"
USER_SCOPE = "todos:read todos:share shares:read shares:write"

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
GRANT_SCOPE = "todos:read todos:share"
READ_SCOPE = "todos:read"

#: The directory: username -> sub.
USERS = {"alice": ALICE_SUB, "bob": BOB_SUB, "carol": CAROL_SUB}

SERVICE_CLIENT = "reminders"


def bearer_claims(request: httpx.Request) -> dict[str, Any] | None:
    """The claims of the bearer token a fake service received (shares' verifier is what is under test)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        return None
    return jwt.decode(token, options={"verify_signature": False})


def _oauth_error(status: int, error: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error})


class FakeIdentity:
    """identity as shares meets it: discovery, JWKS, the token endpoint and the user directory."""

    def __init__(self, issuer: FakeIssuer) -> None:
        self.issuer = issuer
        #: Users' tokens minted by the tests, token -> sub: the only subject tokens an exchange accepts.
        self.user_tokens: dict[str, str] = {}
        #: Every form posted to /token (with valid client authentication), in order.
        self.token_requests: list[dict[str, str]] = []
        self.directory_requests: list[httpx.Request] = []
        #: Set to an OAuth error code to refuse every token exchange with it.
        self.refuse_exchange: str | None = None
        self.directory_status = 200

    def requests_for(self, grant_type: str) -> list[dict[str, str]]:
        return [form for form in self.token_requests if form.get("grant_type") == grant_type]

    @property
    def exchanges(self) -> list[dict[str, str]]:
        return self.requests_for(EXCHANGE)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks", "token_endpoint": f"{ISSUER}/token"},
            )
        if request.url.path == "/token" and request.method == "POST":
            return self._token(request)
        if request.url.path == "/users" and request.method == "GET":
            return self._directory(request)
        return self.issuer.handle(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return _oauth_error(401, "invalid_client")
        form = dict(parse_qsl(request.content.decode()))
        self.token_requests.append(form)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if (form.get("audience"), form.get("scope")) != ("identity", "users:read"):
                return _oauth_error(400, "invalid_scope")
            token = self.issuer.token(
                sub=CLIENT_ID, client_id=CLIENT_ID, roles=(), audience="identity", scope="users:read"
            )
        elif grant == EXCHANGE:
            if self.refuse_exchange:
                return _oauth_error(400, self.refuse_exchange)
            user = self.user_tokens.get(form.get("subject_token", ""))
            if user is None or form.get("subject_token_type") != ACCESS_TOKEN:
                return _oauth_error(400, "invalid_grant")
            if form.get("audience") != "todos":
                return _oauth_error(400, "invalid_target")
            if form.get("scope") not in {GRANT_SCOPE, READ_SCOPE}:
                return _oauth_error(400, "invalid_scope")
            token = self.issuer.token(
                sub=user, client_id=CLIENT_ID, audience="todos", scope=form["scope"], act={"sub": CLIENT_ID}
            )
        else:
            return _oauth_error(400, "unsupported_grant_type")
        return httpx.Response(
            200,
            json={"access_token": token, "token_type": "Bearer", "expires_in": 300, "issued_token_type": ACCESS_TOKEN},
        )

    def _directory(self, request: httpx.Request) -> httpx.Response:
        self.directory_requests.append(request)
        claims = bearer_claims(request)
        if claims is None or claims.get("aud") != "identity" or claims.get("sub") != CLIENT_ID:
            return httpx.Response(401)
        if "users:read" not in claims.get("scope", "").split():
            return httpx.Response(403)
        if self.directory_status != 200:
            return httpx.Response(self.directory_status)
        name = request.url.params.get("username", "")
        data = [{"id": USERS[name], "username": name, "email": f"{name}@example.test"}] if name in USERS else []
        return httpx.Response(200, json={"data": data, "count": len(data)})


class FakeTodos:
    """The part of todos that shares calls (grants, one todo, shared with me), in memory.

    It accepts only tokens shares got by exchange (`act.sub == "shares"`, `aud == "todos"`) and decides from
    the user in them, like todos: a todo the user cannot see is 404, one they see but do not own is 403.
    `answer` forces a status (or an exception to raise) for every call instead.
    """

    def __init__(self) -> None:
        self.todos: dict[str, dict[str, Any]] = {}
        self.grants: set[tuple[str, str]] = set()  # (todo_id, grantee_id)
        self.requests: list[httpx.Request] = []
        self.answer: int | Exception | None = None
        #: Called with each request before it is answered (a test can look at the database then).
        self.on_request: Callable[[httpx.Request], None] | None = None

    def add_todo(self, owner_id: str, title: str = "buy milk") -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        todo = {
            "id": str(uuid.uuid4()),
            "owner_id": owner_id,
            "title": title,
            "notes": "",
            "due_at": None,
            "done": False,
            "created_at": now,
            "updated_at": now,
        }
        self.todos[todo["id"]] = todo
        return todo

    def calls(self, method: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests if method is None or r.method == method]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:
            return httpx.Response(self.answer, json=None if self.answer == 204 else {"status": self.answer})
        claims = bearer_claims(request)
        if claims is None or claims.get("act") != {"sub": CLIENT_ID} or claims.get("aud") != "todos":
            return httpx.Response(401)
        user, scopes = claims["sub"], set(claims.get("scope", "").split())
        parts = request.url.path.strip("/").split("/")
        if request.method == "GET" and parts == ["todos", "shared"] and "todos:read" in scopes:
            return self._shared(request, user)
        if request.method == "GET" and len(parts) == 2 and parts[0] == "todos" and "todos:read" in scopes:
            todo = self.todos.get(parts[1])
            visible = todo is not None and (todo["owner_id"] == user or (todo["id"], user) in self.grants)
            return httpx.Response(200, json=todo) if visible else httpx.Response(404)
        if len(parts) == 4 and parts[0] == "todos" and parts[2] == "grants" and "todos:share" in scopes:
            return self._grant(request.method, parts[1], parts[3], user)
        return httpx.Response(404)

    def _shared(self, request: httpx.Request, user: str) -> httpx.Response:
        shared = [todo for todo in self.todos.values() if (todo["id"], user) in self.grants]
        offset, limit = int(request.url.params.get("offset", 0)), int(request.url.params.get("limit", 50))
        return httpx.Response(200, json={"data": shared[offset : offset + limit], "count": len(shared)})

    def _grant(self, method: str, todo_id: str, grantee_id: str, user: str) -> httpx.Response:
        todo = self.todos.get(todo_id)
        if todo is None or (todo["owner_id"] != user and (todo_id, user) not in self.grants):
            return httpx.Response(404, json={"detail": "no todo with this id is visible to you"})
        if todo["owner_id"] != user:
            return httpx.Response(403)
        if method == "PUT":
            if grantee_id == user:
                return httpx.Response(422)
            created = (todo_id, grantee_id) not in self.grants
            self.grants.add((todo_id, grantee_id))
            body = {"todo_id": todo_id, "grantee_id": grantee_id, "granted_by": user, "created_at": todo["created_at"]}
            return httpx.Response(201 if created else 200, json=body)
        if method == "DELETE":
            if (todo_id, grantee_id) not in self.grants:
                return httpx.Response(404)
            self.grants.remove((todo_id, grantee_id))
            return httpx.Response(204)
        return httpx.Response(405)


@pytest.fixture
def identity(issuer: FakeIssuer) -> FakeIdentity:
    return FakeIdentity(issuer)


@pytest.fixture
def todos() -> FakeTodos:
    return FakeTodos()


@pytest.fixture
def network(identity: FakeIdentity, todos: FakeTodos) -> httpx.MockTransport:
    """The one transport for every outbound call of the app."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "identity.test":
            return identity.handle(request)
        if request.url.host == "todos.test":
            return todos.handle(request)
        raise httpx.ConnectError(f"no such host in the tests: {request.url.host}", request=request)

    return httpx.MockTransport(route)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/shares.db",
        todos_url=TODOS_URL,
        client_secret=CLIENT_SECRET,
        authz=authz.AuthzSettings(issuer=ISSUER, audience=AUDIENCE),
    )


@pytest.fixture
def app(settings: Settings, network: httpx.MockTransport) -> FastAPI:
    return create_app(settings, transport=network)


@pytest.fixture
def user_scope() -> str:
    return USER_SCOPE


@pytest.fixture
def make_caller(make_caller: Callable[..., Caller], identity: FakeIdentity) -> Callable[..., Caller]:
    """The shared `make_caller`, each token also known to the fake identity (an exchange accepts it)."""

    def make(*args: Any, **kwargs: Any) -> Caller:
        caller = make_caller(*args, **kwargs)
        identity.user_tokens[caller.token] = caller.sub
        return caller

    return make


@pytest.fixture
def service_caller(issuer: FakeIssuer) -> Caller:
    """A client-credentials token of another service: sub == client_id, no user behind it."""
    token = issuer.token(
        sub=SERVICE_CLIENT, client_id=SERVICE_CLIENT, roles=(), scope="shares:read shares:write", audience=AUDIENCE
    )
    return Caller(token, sub=SERVICE_CLIENT)


@pytest.fixture
def alice_todo(todos: FakeTodos) -> dict[str, Any]:
    return todos.add_todo(ALICE_SUB, "alice's plan")


@pytest.fixture
def make_share(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Share `todo` as `caller` through the API and return the share."""

    def make(caller: Caller, todo: dict[str, Any], username: str = "bob", note: str = "") -> dict[str, Any]:
        body = {"todo_id": todo["id"], "username": username, "note": note}
        response = client.post("/shares", headers=caller, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def db_rows(client: TestClient) -> Callable[[], list[dict[str, Any]]]:
    """Every row of the shares table, read straight from the service's database (not through the API)."""
    engine = client.app_state["engine"]

    def rows() -> list[dict[str, Any]]:
        with Session(engine) as session:
            return [share.model_dump() for share in session.exec(select(Share).order_by(col(Share.created_at))).all()]

    return rows

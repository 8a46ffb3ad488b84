"""Fixtures for the web UI's tests: a fake identity and a fake gateway on one mock network, a fresh SQLite
session store per test, and a browser-like `TestClient` at the UI's public URL.

- `identity.test` (`FakeIdentity`): discovery, the JWKS of a `FakeIssuer`, `/token` (authorization code
  with the PKCE and client checks identity makes, refresh with rotation) and `/logout` (records the
  `id_token_hint` the UI sends). `id_token_claims` lets a test spoil the next ID token.
- `gateway.test` (`FakeGateway`): `/api/todos…` and `/api/shares…`, answering only the access token
  identity issued last, and a forced answer (`force`) for refusals.

`signed_in(client, "alice")` walks the code flow the way a browser would, without identity's login page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import authz
from authz.pytest_plugin import ALICE_SUB, BOB_SUB, CAROL_SUB, ISSUER
from authz.testing import FakeIssuer
from servicekit.testing import watch_event_loop
from web.app import create_app
from web.settings import Settings

#: Autouse: every test fails if the app blocked its event loop (servicekit.loopwatch).
free_event_loop = pytest.fixture(autouse=True)(watch_event_loop)

PUBLIC_URL = "http://web.test"
GATEWAY_URL = "http://gateway.test"
CLIENT_SECRET = "web-test-secret"
USERS = {"alice": (ALICE_SUB, []), "bob": (BOB_SUB, []), "carol": (CAROL_SUB, ["admin"])}


class FakeIdentity:
    def __init__(self, issuer: FakeIssuer) -> None:
        self.issuer = issuer
        self.codes: dict[str, dict[str, str]] = {}
        self.refresh_tokens: dict[str, str] = {}  # live refresh token -> username
        self.access_tokens: dict[str, str] = {}  # live access token -> username
        self.logouts: list[str] = []
        self.expires_in = 300
        self.id_token_claims: dict[str, Any] = {}
        self.refresh_requests = 0

    def authorize(self, url: str, username: str) -> str:
        """What identity's login page ends in: the redirect to the client with a code (query of `url` checked)."""
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = query | {"username": username}
        return f"{query['redirect_uri']}?code={code}&state={query['state']}&iss={ISSUER}"

    def _tokens(self, username: str, nonce: str | None) -> dict[str, Any]:
        sub, roles = USERS[username]
        access = secrets.token_urlsafe(24)  # opaque, as in phantom
        refresh = secrets.token_urlsafe(24)
        self.access_tokens[access] = username
        self.refresh_tokens[refresh] = username
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in,
                                "refresh_token": refresh}  # fmt: skip
        if nonce is not None:
            claims = {"nonce": nonce, "typ": None} | self.id_token_claims
            body["id_token"] = self.issuer.token(
                sub=sub, audience="web", username=username, roles=roles, headers={"typ": "JWT"},
                **{k: v for k, v in claims.items() if v is not None},
            )  # fmt: skip
        return body

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks", "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token", "end_session_endpoint": f"{ISSUER}/logout",
                "code_challenge_methods_supported": ["S256"],
            })  # fmt: skip
        if path == "/jwks":
            return httpx.Response(200, json=self.issuer.jwks())
        form = dict(parse_qsl(request.content.decode()))
        if path == "/logout":
            self.logouts.append(form.get("id_token_hint", ""))
            return httpx.Response(302, headers={"Location": "http://web.test/"})
        if path != "/token":
            return httpx.Response(404)
        if (
            request.headers.get("authorization")
            != "Basic " + base64.b64encode(f"web:{CLIENT_SECRET}".encode()).decode()
        ):
            return httpx.Response(401, json={"error": "invalid_client"})
        if form["grant_type"] == "authorization_code":
            pending = self.codes.pop(form["code"], None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if (
                pending is None
                or pending["code_challenge"] != challenge
                or pending["redirect_uri"] != form["redirect_uri"]
            ):
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json=self._tokens(pending["username"], pending["nonce"]))
        if form["grant_type"] == "refresh_token":
            self.refresh_requests += 1
            username = self.refresh_tokens.pop(form["refresh_token"], None)  # rotation: spent at once
            if username is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json=self._tokens(username, None))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})


class FakeGateway:
    def __init__(self, identity: FakeIdentity) -> None:
        self.identity = identity
        self.todos: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str, str]] = []  # (method, path, bearer)
        self.force: tuple[int, dict[str, Any]] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        path = request.url.path.removeprefix("/api")
        self.seen.append((request.method, path, bearer))
        username = self.identity.access_tokens.get(bearer)
        if username is None:
            return httpx.Response(
                401, json={"status": 401}, headers={"www-authenticate": 'Bearer error="invalid_token"'}
            )
        if self.force is not None:
            status, body = self.force
            return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})
        sub, roles = USERS[username]
        if path == "/todos/whoami":
            return httpx.Response(200, json={"subject": sub, "username": username, "roles": ["user", *roles]})
        if path == "/todos" and request.method == "GET":
            mine = [t for t in self.todos.values() if t["owner_id"] == sub]
            return httpx.Response(200, json={"data": mine, "count": len(mine)})
        if path == "/todos" and request.method == "POST":
            body = httpx.Response(200, content=request.content).json()
            todo = {"id": str(uuid.uuid4()), "owner_id": sub, "notes": "", "done": False, **body}
            self.todos[todo["id"]] = todo
            return httpx.Response(201, json=todo)
        if path == "/shares/sent":
            return httpx.Response(200, json={"data": [], "count": 0})
        if path == "/shares/received":
            return httpx.Response(200, json={"data": [], "count": 0})
        if path == "/todos/audit":
            return httpx.Response(200, json={"data": [], "count": 0})
        return httpx.Response(404, json={"status": 404})


@pytest.fixture
def identity(issuer: FakeIssuer) -> FakeIdentity:
    return FakeIdentity(issuer)


@pytest.fixture
def gateway(identity: FakeIdentity) -> FakeGateway:
    return FakeGateway(identity)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        env="dev",
        client_secret=CLIENT_SECRET,
        public_url=PUBLIC_URL,
        gateway_url=GATEWAY_URL,
        database_url=f"sqlite:///{tmp_path / 'web.db'}",
        authz=authz.AuthzSettings(issuer=ISSUER),
    )


@pytest.fixture
def app(settings: Settings, identity: FakeIdentity, gateway: FakeGateway) -> FastAPI:
    def network(request: httpx.Request) -> httpx.Response:
        if request.url.host == "gateway.test":
            return gateway.handle(request)
        return identity.handle(request)

    return create_app(settings, transport=httpx.MockTransport(network))


@pytest.fixture
def user_scope() -> str:
    return "openid todos:read todos:write"


@pytest.fixture
def client(app: FastAPI):
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def signed_in(identity: FakeIdentity) -> Callable[[TestClient, str], httpx.Response]:
    """Sign `username` in through the UI's code flow; the callback's answer (303 to / with the cookie)."""

    def sign_in(client: TestClient, username: str) -> httpx.Response:
        start = client.get("/auth/login")
        assert start.status_code == 303, start.text
        answer = client.get(identity.authorize(start.headers["location"], username).removeprefix(PUBLIC_URL))
        assert answer.status_code == 303, answer.text
        return answer

    return sign_in


def csrf_of(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]

"""Fixtures for identity's tests: a fresh app per test on its own SQLite file, client secrets per test.

Test modules cannot import this file (pytest runs with `--import-mode=importlib`), so the helpers are
fixtures that return small functions: `password_token(client, "alice")`, `cc_token(client, "reminders")`,
`decode(client, token)`, `oauth_error(response, "invalid_grant")`; `problem(response, 401, "missing-token")`
comes from the shared plugin `authz.pytest_plugin`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from authz.pytest_plugin import ISSUER, TestClient
from identity.app import create_app
from identity.settings import Settings
from servicekit.testing import watch_event_loop

#: Autouse: every test fails if the app blocked its event loop (servicekit.loopwatch).
free_event_loop = pytest.fixture(autouse=True)(watch_event_loop)

LIFETIME = 600
#: Long enough that a request made right after a rotation still gets the old key, short enough to wait for.
PUBLISH_DELAY = 0.4

SECRET_ENV = {
    "reminders": "IDENTITY_CLIENT_SECRET_REMINDERS",
    "shares": "IDENTITY_CLIENT_SECRET_SHARES",
    "gateway": "IDENTITY_CLIENT_SECRET_GATEWAY",
    "identity-admin": "IDENTITY_CLIENT_SECRET_IDENTITY_ADMIN",
    "web": "IDENTITY_CLIENT_SECRET_WEB",
}


@pytest.fixture
def client_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh secret per confidential client, in the environment the realm reads at start-up."""
    values = {client_id: secrets.token_urlsafe(24) for client_id in SECRET_ENV}
    for client_id, var in SECRET_ENV.items():
        monkeypatch.setenv(var, values[client_id])
    return values


@pytest.fixture
def make_settings(tmp_path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "dev",
            "allow_password_grant": True,
            "database_url": f"sqlite:///{tmp_path}/identity.db",
            "issuer": ISSUER,
            "key_publish_delay_seconds": PUBLISH_DELAY,
            "access_token_lifetime_seconds": LIFETIME,
        }
        return Settings(**(values | overrides))

    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
def make_client(client_secrets) -> Callable[..., TestClient]:
    """A client for a new app; enter it (`with make_client(s) as c:`) to run the lifespan. Keyword
    arguments go to `create_app` (`transport=` for identity's own outbound calls)."""
    return lambda settings, **kwargs: TestClient(create_app(settings, **kwargs))


@pytest.fixture
def client(make_client, settings) -> Iterator[TestClient]:
    with make_client(settings) as client:
        yield client


@pytest.fixture
def basic(client_secrets) -> Callable[[str], tuple[str, str]]:
    """HTTP Basic credentials (`client_secret_basic`) for a confidential client: `auth=basic("reminders")`."""
    return lambda client_id: (client_id, client_secrets[client_id])


@pytest.fixture
def password_token() -> Callable[..., str]:
    """`password_token(client, "alice", audience="todos")`: a user token for the public client todo-cli."""

    def issue(client: TestClient, username: str, *, client_id: str = "todo-cli", **form: Any) -> str:
        data = {"grant_type": "password", "username": username, "password": username, "client_id": client_id}
        response = client.post("/token", data=data | form)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    return issue


@pytest.fixture
def cc_token(basic) -> Callable[..., str]:
    """`cc_token(client, "reminders", scope="todos:due:read")`: a client-credentials token (HTTP Basic)."""

    def issue(client: TestClient, client_id: str, **form: Any) -> str:
        response = client.post("/token", data={"grant_type": "client_credentials", **form}, auth=basic(client_id))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    return issue


@pytest.fixture
def decode() -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """`header, claims = decode(client, token)`: verified with PyJWT against the app's own GET /jwks."""

    def verify(client: TestClient, token: str, *, audience: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        key_set = jwt.PyJWKSet.from_dict(client.get("/jwks").json())
        header = jwt.get_unverified_header(token)
        key = key_set[header["kid"]]
        claims = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            issuer=ISSUER,
            audience=audience,
            options={"verify_aud": audience is not None, "require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
        return header, claims

    return verify


@pytest.fixture
def introspect(basic) -> Callable[..., dict[str, Any]]:
    """`introspect(client, token)`: the RFC 7662 answer, asked by the gateway (a confidential client)."""

    def ask(client: TestClient, token: str, *, as_client: str = "gateway") -> dict[str, Any]:
        response = client.post("/introspect", data={"token": token}, auth=basic(as_client))
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return response.json()

    return ask


@pytest.fixture
def oauth_error() -> Callable[..., dict[str, str]]:
    """Check an RFC 6749 section 5.2 error: status, exactly `error` + `error_description`, not cacheable."""

    def check(response: Any, error: str, status: int = 400) -> dict[str, str]:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error", "error_description"}, body
        assert body["error"] == error, body
        assert isinstance(body["error_description"], str)
        assert body["error_description"]
        assert response.headers["cache-control"] == "no-store"
        return body

    return check

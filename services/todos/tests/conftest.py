"""Fixtures for the todos tests: a fake issuer, a fresh SQLite database per test, and named callers.

Every request goes through the real `authz` verifier: the issuer's discovery document and JWKS are
served by `FakeIssuer.transport`, so nothing here reaches the network.

The callers (Polar's style, from the shared plugin `authz.pytest_plugin`): `alice`, `bob` and `dave` are
plain users, `carol` is a user with the admin role. Each fixture is the request headers for that caller (a
dict with `.sub` and `.username` attached); `issuer`, `make_caller` and `client` come from there too.
`delegated(user)` is a service (by default `shares`) acting for that user (RFC 8693 `act`);
`service_caller(client_id)` is a service's own client-credentials token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

import authz
from authz.pytest_plugin import ALICE_SUB, ISSUER, TestClient
from authz.testing import Caller, FakeIssuer
from servicekit.testing import watch_event_loop
from todos.app import create_app
from todos.models import AuditEntry, Grant, Todo
from todos.settings import Settings

#: Autouse: every test fails if the app blocked its event loop (servicekit.loopwatch).
free_event_loop = pytest.fixture(autouse=True)(watch_event_loop)

AUDIENCE = "todos"
USER_SCOPE = "todos:read todos:write"

SERVICE_CLIENT = "reminders"
#: The actor todos lets act for a user (settings `delegated_actors`), and the scope it asks for.
SHARES_CLIENT = "shares"
DELEGATED_SCOPE = "todos:read todos:share"


@pytest.fixture
def user_scope() -> str:
    return USER_SCOPE


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/todos.db",
        authz=authz.AuthzSettings(issuer=ISSUER, audience=AUDIENCE),
    )


@pytest.fixture
def app(settings: Settings, issuer: FakeIssuer) -> FastAPI:
    return create_app(settings, transport=issuer.transport)


@pytest.fixture
def make_client(settings: Settings, issuer: FakeIssuer) -> Iterator[Callable[..., TestClient]]:
    """A second app with some settings changed (e.g. `delegated_actors={}`), on the SAME database as
    `client`: data made through `client` is there to be refused (or not) by the other app."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            app = create_app(settings.model_copy(update=overrides), transport=issuer.transport)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield make


@pytest.fixture
def delegated(issuer: FakeIssuer) -> Callable[..., Caller]:
    """Headers for a delegated token: `actor` (a service) acting for `user` (RFC 8693 `act`).

    `sub` is the user, `client_id` the acting service, `act` = {"sub": actor} unless `act` is given
    (a nested chain, or None for no `act` claim at all).
    """
    missing = object()

    def make(
        user: Caller,
        actor: str = SHARES_CLIENT,
        *,
        scope: str = DELEGATED_SCOPE,
        act: Any = missing,
        roles: Iterable[str] = ("user",),
        **claims: Any,
    ) -> Caller:
        if act is missing:
            act = {"sub": actor}
        if act is not None:
            claims["act"] = act
        token = issuer.token(
            sub=user.sub,
            username=user.username,
            roles=roles,
            scope=scope,
            audience=AUDIENCE,
            client_id=actor,
            **claims,
        )
        return Caller(token, sub=user.sub, username=user.username)

    return make


@pytest.fixture
def service_caller(issuer: FakeIssuer) -> Callable[..., Caller]:
    """Headers for a service's own client-credentials token (sub == client_id, no user behind it)."""

    def make(
        client_id: str = SERVICE_CLIENT,
        *,
        scope: str = "todos:due:read",
        roles: Iterable[str] = (),
        audience: str | list[str] = AUDIENCE,
        **claims: Any,
    ) -> Caller:
        token = issuer.token(sub=client_id, client_id=client_id, roles=roles, scope=scope, audience=audience, **claims)
        return Caller(token, sub=client_id)

    return make


@pytest.fixture
def alice_read_only(make_caller) -> Caller:
    return make_caller(ALICE_SUB, scope="todos:read")


@pytest.fixture
def alice_write_only(make_caller) -> Caller:
    return make_caller(ALICE_SUB, scope="todos:write")


@pytest.fixture
def alice_expired(make_caller) -> Caller:
    # Well past the verifier's 10 s leeway.
    return make_caller(ALICE_SUB, lifetime=-120)


@pytest.fixture
def reminders(issuer: FakeIssuer) -> Caller:
    """A client-credentials token of the reminders service: sub == client_id, no user behind it."""
    token = issuer.token(
        sub=SERVICE_CLIENT, client_id=SERVICE_CLIENT, roles=(), scope="todos:due:read", audience="todos"
    )
    return Caller(token, sub=SERVICE_CLIENT)


@pytest.fixture
def make_todo(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Create a todo through the API as `caller` and return its public representation."""

    def make(caller: Caller, title: str = "buy milk", **fields: Any) -> dict[str, Any]:
        response = client.post("/todos", headers=caller, json={"title": title, **fields})
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def db_rows(client: TestClient) -> Callable[[], list[dict[str, Any]]]:
    """Every row of the todos table, read straight from the service's database (not through the API)."""
    engine = client.app_state["engine"]

    def rows() -> list[dict[str, Any]]:
        with Session(engine) as session:
            return [todo.model_dump() for todo in session.exec(select(Todo).order_by(col(Todo.id))).all()]

    return rows


@pytest.fixture
def grant_rows(client: TestClient) -> Callable[[], list[dict[str, Any]]]:
    """Every row of the grants table, read straight from the database."""
    engine = client.app_state["engine"]

    def rows() -> list[dict[str, Any]]:
        with Session(engine) as session:
            statement = select(Grant).order_by(col(Grant.todo_id), col(Grant.grantee_id))
            return [grant.model_dump() for grant in session.exec(statement).all()]

    return rows


@pytest.fixture
def audit_rows(client: TestClient) -> Callable[[], list[dict[str, Any]]]:
    """Every row of the audit log, oldest first, read straight from the database."""
    engine = client.app_state["engine"]

    def rows() -> list[dict[str, Any]]:
        with Session(engine) as session:
            statement = select(AuditEntry).order_by(col(AuditEntry.at), col(AuditEntry.id))
            return [entry.model_dump() for entry in session.exec(statement).all()]

    return rows

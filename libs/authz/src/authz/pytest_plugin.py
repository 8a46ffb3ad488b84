"""The fixtures every service's tests share, as one pytest plugin: `pytest_plugins = ["authz.pytest_plugin"]`
(the repository's root conftest.py registers it for every test).

A service's own conftest.py adds what only it has — its `settings` and `app`, the fakes of the services it
calls, its database rows — and overrides a fixture here where it needs more (a fixture may ask for the one
it overrides by the same name).

- `issuer`: a `FakeIssuer` at `ISSUER`; its `transport` serves discovery and the JWKS.
- `make_caller(sub, *, username, roles, scope, audience, token_issuer, **claims)`: the headers of a user
  token (a `Caller`); `scope` defaults to the `user_scope` fixture, which each service defines.
- `alice`, `bob`, `dave`: plain users; `carol`: a user with the admin role (Polar's named principals).
- `client`: a `TestClient` over the service's `app` fixture, lifespan run, unexpected errors returned as
  the 500 problem a caller would see (the traceback is logged and shown on failure), so a test asserting
  a status fails on the status.
- `problem(response, status, slug)`: assert an RFC 9457 problem with that status and type; its body.

Test modules import the constants from here (`from authz.pytest_plugin import ALICE_SUB`): with
`--import-mode=importlib` they cannot import a conftest.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from authz import PROBLEM_JSON, TYPE_PREFIX
from authz.testing import Caller, FakeIssuer

# Starlette warns (once, on import) that its TestClient would rather run on `httpx2`, which the workspace
# does not install; with `filterwarnings = error` that warning would stop collection. Only that one is
# silenced, here, before any test module imports the client.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

ISSUER = "http://identity.test"
#: The audiences of a user's token from the CLI: every API behind the gateway.
USER_AUDIENCE = ["todos", "shares", "reminders"]

ALICE_SUB = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"
BOB_SUB = "8d9e0f1a-2b3c-4d5e-8f70-b0b000000002"
CAROL_SUB = "c4a7e1d2-5f6b-4c8d-9e01-ca201000003a"
DAVE_SUB = "d4e5f6a7-b8c9-4d0e-8f12-da4e00000004"


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(ISSUER)


@pytest.fixture
def user_scope() -> str:
    """The scope of a user token in this service's tests: each service's conftest defines its own."""
    pytest.fail("this service's conftest.py defines no `user_scope` fixture (the scope of a user token)")


@pytest.fixture
def make_caller(issuer: FakeIssuer, user_scope: str) -> Callable[..., Caller]:
    """Headers for a user token; override scope, roles, audience, lifetime, the issuer or any claim."""

    def make(
        sub: str = ALICE_SUB,
        *,
        username: str | None = "alice",
        roles: Iterable[str] = ("user",),
        scope: str | None = None,
        audience: str | list[str] = USER_AUDIENCE,
        token_issuer: FakeIssuer | None = None,
        **claims: Any,
    ) -> Caller:
        scope = user_scope if scope is None else scope
        return (token_issuer or issuer).caller(
            sub=sub, username=username, roles=roles, scope=scope, audience=audience, **claims
        )

    return make


@pytest.fixture
def alice(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller(ALICE_SUB, username="alice")


@pytest.fixture
def bob(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller(BOB_SUB, username="bob")


@pytest.fixture
def carol(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller(CAROL_SUB, username="carol", roles=("user", "admin"))


@pytest.fixture
def dave(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller(DAVE_SUB, username="dave")


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def problem() -> Callable[..., dict[str, Any]]:
    """Check an RFC 9457 problem response: status, media type and the `type` URN naming the failed check."""

    def check(response: Any, status: int, slug: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        body: dict[str, Any] = response.json()
        assert body["type"] == TYPE_PREFIX + slug, body
        assert body["status"] == status
        return body

    return check

"""FastAPI integration: `require(...)` dependencies, RFC 6750 challenges and RFC 9457 problem bodies.

A tiny app is built per test with the real `Authenticator` (discovery and JWKS from `FakeIssuer.transport`)
and driven with Starlette's `TestClient`; nothing reaches the network.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from starlette.exceptions import StarletteDeprecationWarning

from authz import (
    PROBLEM_JSON,
    Authenticator,
    AuthzSettings,
    ConfigurationError,
    Kind,
    Mode,
    Principal,
    StaticKeySource,
    TokenVerifier,
    install_problem_handlers,
    require,
)

# Starlette warns on import that its TestClient prefers `httpx2`, which the workspace does not install;
# with `filterwarnings = error` that would stop collection, so only that warning is silenced, only here.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

REALM = "test"
PROBLEM = "urn:todo-suite:problem:"
SECRET = "sk_live_51HxQ-very-secret-value"
CRASH_TEXT = "db password is hunter2"

AnyCaller = Annotated[Principal, Depends(require())]
UserReader = Annotated[Principal, Depends(require(scopes={"todos:read"}, kind=Kind.USER))]
Writer = Annotated[Principal, Depends(require(scopes={"todos:write"}))]
Admin = Annotated[Principal, Depends(require(roles={"admin"}))]


class NoteIn(BaseModel):
    title: str
    priority: int


def build_app(issuer, settings: AuthzSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(transport=issuer.transport) as client:
            yield {"authz": Authenticator.from_settings(settings, client)}

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app, realm=REALM)

    @app.get("/whoami")
    async def whoami(principal: AnyCaller) -> dict:
        return principal.whoami()

    @app.get("/todos")
    async def list_todos(principal: UserReader, limit: int = 10) -> dict:
        return {"subject": principal.subject, "limit": limit}

    @app.post("/todos")
    async def create_todo(principal: Writer) -> dict:
        return {"created_by": principal.subject}

    @app.get("/admin")
    async def admin(principal: Admin) -> dict:
        return {"admin": principal.subject}

    @app.post("/notes")
    async def create_note(note: NoteIn, principal: AnyCaller) -> dict:
        return {"title": note.title}

    @app.get("/boom")
    async def boom(principal: AnyCaller) -> dict:
        raise RuntimeError(CRASH_TEXT)

    return app


def challenge(response: httpx.Response) -> dict[str, str]:
    """The auth-params of a `Bearer` challenge (asserting the scheme)."""
    value = response.headers["www-authenticate"]
    assert value.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(issuer) -> AuthzSettings:
    return AuthzSettings.for_service("todos", issuer=issuer.issuer)


@pytest.fixture
def client(issuer, settings) -> Iterator[TestClient]:
    with TestClient(build_app(issuer, settings)) as test_client:
        yield test_client


class TestMissingCredentials:
    def test_no_authorization_header(self, client):
        response = client.get("/whoami")

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"] == PROBLEM + "missing-token"
        assert body["status"] == 401
        assert body["instance"] == "/whoami"

    def test_basic_credentials_are_not_a_bearer_token(self, client):
        response = client.get("/whoami", headers={"Authorization": "Basic xyz"})

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
        assert response.json()["type"] == PROBLEM + "missing-token"

    def test_token_in_the_query_string_is_ignored(self, client, issuer):
        response = client.get("/whoami", params={"access_token": issuer.token()})

        assert response.status_code == 401
        assert response.json()["type"] == PROBLEM + "missing-token"


class TestBadToken:
    def test_expired_token(self, client, issuer):
        token = issuer.token(lifetime=-120)

        response = client.get("/whoami", headers=bearer(token))

        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON
        params = challenge(response)
        assert params["realm"] == REALM
        assert params["error"] == "invalid_token"
        assert params["error_description"]
        assert response.json()["type"] == PROBLEM + "expired-token"
        assert token not in response.text

    def test_garbage_token(self, client):
        response = client.get("/whoami", headers=bearer("not-a-jwt"))

        assert response.status_code == 401
        assert challenge(response)["error"] == "invalid_token"
        assert response.json()["type"] == PROBLEM + "malformed-token"

    def test_empty_bearer_token(self, client):
        response = client.get("/whoami", headers={"Authorization": "Bearer "})

        assert response.status_code == 401
        assert challenge(response)["error"] == "invalid_token"

    def test_two_authorization_headers(self, client, issuer):
        # RFC 6750 section 3.1: more than one way of sending a token is invalid_request, a 400.
        token = issuer.token()
        headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]

        response = client.get("/whoami", headers=headers)

        assert response.status_code == 400
        assert challenge(response)["error"] == "invalid_request"
        assert response.json()["detail"] == "more than one Authorization header"

    def test_typ_jwt_is_refused_by_default(self, client, issuer):
        response = client.get("/whoami", headers=bearer(issuer.token(headers={"typ": "JWT"})))

        assert response.status_code == 401
        assert response.json()["type"] == PROBLEM + "wrong-token-type"


class TestForbidden:
    def test_missing_scope(self, client, issuer):
        response = client.post("/todos", headers=bearer(issuer.token(scope="todos:read")))

        assert response.status_code == 403
        params = challenge(response)
        assert params["error"] == "insufficient_scope"
        assert params["scope"] == "todos:write"
        assert response.json()["type"] == PROBLEM + "missing-scope"
        assert response.headers["content-type"] == PROBLEM_JSON

    def test_missing_role(self, client, issuer):
        response = client.get("/admin", headers=bearer(issuer.token(roles=["user"])))

        assert response.status_code == 403
        assert "www-authenticate" not in response.headers
        assert response.json()["type"] == PROBLEM + "missing-role"

    def test_service_token_at_a_user_endpoint(self, client, issuer):
        token = issuer.token(sub="reminders", client_id="reminders", scope="todos:read", roles=[])

        response = client.get("/todos", headers=bearer(token))

        assert response.status_code == 403
        assert "www-authenticate" not in response.headers
        assert response.json()["type"] == PROBLEM + "wrong-principal-kind"


class TestAllowed:
    def test_valid_token_yields_the_principal(self, client, issuer):
        token = issuer.token(sub="alice-sub", username="alice", scope="todos:write todos:read", roles=["user", "admin"])

        response = client.get("/whoami", headers=bearer(token))

        assert response.status_code == 200
        assert response.json() == {
            "subject": "alice-sub",
            "username": "alice",
            "kind": "user",
            "client_id": "todo-cli",
            "roles": ["admin", "user"],
            "scopes": ["todos:read", "todos:write"],
            "actor": [],
            "audience": ["todos"],
            "mesh_peer": None,
            "mode": "passthrough",
            "source": "verified_token",
        }

    def test_every_demand_met(self, client, issuer):
        token = issuer.token(sub="alice-sub", scope="todos:read todos:write", roles=["admin"])

        assert client.get("/todos", headers=bearer(token)).json() == {"subject": "alice-sub", "limit": 10}
        assert client.post("/todos", headers=bearer(token)).json() == {"created_by": "alice-sub"}
        assert client.get("/admin", headers=bearer(token)).json() == {"admin": "alice-sub"}

    def test_service_token_where_no_kind_is_demanded(self, client, issuer):
        token = issuer.token(sub="reminders", client_id="reminders", scope="todos:write", roles=[])

        response = client.post("/todos", headers=bearer(token))

        assert response.status_code == 200
        assert response.json() == {"created_by": "reminders"}

    def test_scheme_is_case_insensitive(self, client, issuer):
        response = client.get("/whoami", headers={"Authorization": f"bearer {issuer.token(sub='alice-sub')}"})

        assert response.status_code == 200
        assert response.json()["subject"] == "alice-sub"

    def test_token_types_setting_reaches_the_verifier(self, issuer, monkeypatch):
        monkeypatch.setenv("AUTHZ_TOKEN_TYPES", '["at+jwt","JWT"]')
        settings = AuthzSettings.for_service("todos", issuer=issuer.issuer)

        with TestClient(build_app(issuer, settings)) as client:
            response = client.get("/whoami", headers=bearer(issuer.token(sub="alice-sub", headers={"typ": "JWT"})))

        assert response.status_code == 200
        assert response.json()["subject"] == "alice-sub"


class TestProblemDetails:
    def test_validation_error_does_not_echo_the_input(self, client, issuer):
        response = client.post(
            "/notes", headers=bearer(issuer.token()), json={"title": "groceries", "priority": SECRET}
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"] == PROBLEM + "validation-error"
        assert ["body", "priority"] in [error["loc"] for error in body["errors"]]
        assert SECRET not in response.text

    def test_query_validation_error_does_not_echo_the_input(self, client, issuer):
        response = client.get("/todos", headers=bearer(issuer.token(scope="todos:read")), params={"limit": SECRET})

        assert response.status_code == 422
        assert ["query", "limit"] in [error["loc"] for error in response.json()["errors"]]
        assert SECRET not in response.text

    def test_unexpected_exception_hides_its_text(self, issuer, settings):
        with TestClient(build_app(issuer, settings), raise_server_exceptions=False) as client:
            response = client.get("/boom", headers=bearer(issuer.token()))

        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"] == PROBLEM + "internal-error"
        for leak in (CRASH_TEXT, "RuntimeError", "Traceback"):
            assert leak not in response.text

    def test_unknown_path(self, client):
        response = client.get("/no/such/path")

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"] == PROBLEM + "not-found"
        assert response.json()["status"] == 404

    def test_wrong_method_keeps_the_allow_header(self, client):
        response = client.delete("/admin")

        assert response.status_code == 405
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["allow"] == "GET"


class TestAuthenticatorConfiguration:
    def _verifier(self) -> TokenVerifier:
        return TokenVerifier(StaticKeySource({}), issuer="http://identity.test", audience="todos")

    @pytest.mark.parametrize("mode", [Mode.TRUST, Mode.REISSUE, Mode.EXTRACT])
    def test_a_mode_without_what_it_needs_is_refused(self, mode):
        settings = AuthzSettings.for_service("todos", mode=mode)

        with pytest.raises(ConfigurationError, match=mode.value):
            Authenticator(settings, self._verifier())

    @pytest.mark.parametrize("mode", [Mode.PASSTHROUGH, Mode.PHANTOM])
    def test_modes_that_verify_identitys_tokens_need_nothing_more(self, mode):
        authenticator = Authenticator(AuthzSettings.for_service("todos", mode=mode), self._verifier())

        assert authenticator.settings.mode is mode

    def test_trust_from_the_environment_without_the_mesh(self, monkeypatch):
        monkeypatch.setenv("AUTHZ_MODE", "trust")
        settings = AuthzSettings.for_service("todos")

        assert settings.mode is Mode.TRUST
        with pytest.raises(ConfigurationError):
            Authenticator(settings, self._verifier())

    def test_an_audience_is_required(self):
        with pytest.raises(ConfigurationError, match="AUTHZ_AUDIENCE"):
            Authenticator(AuthzSettings(), self._verifier())

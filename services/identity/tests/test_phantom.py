"""Opaque access tokens (the phantom token): issued, introspected, resolved, revoked, used at userinfo.

A client marked `opaque_access_tokens` gets a random handle; identity keeps the JWT it stands for. The
gateway (`may_resolve_phantom_tokens`) trades the handle for the JWT at /introspect with
`Accept: application/jwt`; everyone else gets RFC 7662 JSON. Ref: https://www.rfc-editor.org/rfc/rfc7662
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from sqlmodel import Session, SQLModel, select

from identity.keys import KeyRing
from identity.models import PhantomToken
from identity.phantom import PhantomTokens
from identity.realm import load_realm, with_opaque_tokens
from identity.settings import DEMO_REALM
from identity.tokens import TokenService
from servicekit import make_engine

#: `secrets.token_urlsafe(32)`: 32 random bytes, unpadded base64url.
HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")
ACCEPT_JWT = {"Accept": "application/jwt"}
ALICE = "6b3c1f7e-2a41-4c55-9a0e-0c1d5e8a7a01"
#: What introspection adds to a token's claims (RFC 7662 section 2.2).
INTROSPECTION_ONLY = {"active", "token_type", "username"}


def is_jwt(token: str) -> bool:
    try:
        jwt.get_unverified_header(token)
    except jwt.DecodeError:
        return False
    return True


def realm_with(tmp_path, client_id: str, line: str):
    """The demo realm with one more line in one client's table (the realm file is TOML, read at start-up)."""
    text = DEMO_REALM.read_text()
    anchor = f'client_id = "{client_id}"\n'
    assert text.count(anchor) == 1
    path = tmp_path / "realm.toml"
    path.write_text(text.replace(anchor, anchor + line + "\n"))
    return path


@pytest.fixture
def phantom(make_client, make_settings, monkeypatch) -> Iterator[Any]:
    """identity as `make up MODE=phantom` runs it: todo-cli named in IDENTITY_OPAQUE_TOKEN_CLIENTS."""
    monkeypatch.setenv("IDENTITY_OPAQUE_TOKEN_CLIENTS", '["todo-cli"]')
    settings = make_settings()
    assert settings.opaque_token_clients == ["todo-cli"]
    with make_client(settings) as client:
        yield client


@pytest.fixture
def resolve(basic) -> Callable[..., Any]:
    """`resolve(client, token)`: POST /introspect with `Accept: application/jwt`, by default as the gateway."""

    def ask(client, token: str, *, as_client: str = "gateway", accept: str = "application/jwt") -> Any:
        response = client.post("/introspect", data={"token": token}, auth=basic(as_client), headers={"Accept": accept})
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return response

    return ask


def resolved_jwt(response) -> str:
    assert response.headers["content-type"] == "application/jwt", response.text
    return response.text


def answered_json(response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json", response.text
    return response.json()


class TestIssuing:
    def test_a_configured_client_gets_an_opaque_handle(self, phantom, settings):
        form = {"grant_type": "password", "username": "alice", "password": "alice", "client_id": "todo-cli"}

        response = phantom.post("/token", data=form)

        assert response.status_code == 200, response.text
        body = response.json()
        assert HANDLE.fullmatch(body["access_token"]), body["access_token"]
        assert not is_jwt(body["access_token"])
        # The rest of the answer is the JWT's, unchanged (RFC 6749 section 5.1).
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == settings.access_token_lifetime_seconds
        assert "todos:read" in body["scope"].split()
        assert response.headers["cache-control"] == "no-store"

    def test_every_handle_is_new(self, phantom, password_token):
        assert password_token(phantom, "alice") != password_token(phantom, "alice")

    def test_other_clients_still_get_jwts(self, phantom, cc_token, decode):
        _, claims = decode(phantom, cc_token(phantom, "reminders"))

        assert claims["client_id"] == "reminders"

    def test_no_opaque_tokens_unless_configured(self, client, password_token, decode):
        _, claims = decode(client, password_token(client, "alice"))

        assert claims["client_id"] == "todo-cli"

    def test_the_realm_field_turns_it_on_for_client_credentials(
        self, tmp_path, make_client, make_settings, cc_token, password_token, introspect, decode
    ):
        realm_file = realm_with(tmp_path, "reminders", "opaque_access_tokens = true")

        with make_client(make_settings(realm_file=realm_file)) as client:
            handle = cc_token(client, "reminders")
            assert HANDLE.fullmatch(handle)
            body = introspect(client, handle)
            assert body["active"] is True
            assert body["sub"] == "reminders"
            # Only the client the realm marks: todo-cli still gets its JWT.
            assert decode(client, password_token(client, "alice"))[1]["client_id"] == "todo-cli"

    def test_token_exchange_answers_a_jwt_even_to_an_opaque_client(
        self, tmp_path, make_client, make_settings, password_token, basic, decode
    ):
        # The delegated token goes to a confidential service, not to a client at the edge.
        realm_file = realm_with(tmp_path, "shares", "opaque_access_tokens = true")
        with make_client(make_settings(realm_file=realm_file)) as client:
            form = {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": password_token(client, "alice"),
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": "todos",
            }
            response = client.post("/token", data=form, auth=basic("shares"))

            assert response.status_code == 200, response.text
            _, claims = decode(client, response.json()["access_token"], audience="todos")
            assert claims["act"] == {"sub": "shares"}

    def test_the_handle_is_stored_only_as_its_sha256(self, phantom, password_token, resolve):
        handle = password_token(phantom, "alice")
        token = resolved_jwt(resolve(phantom, handle))

        with Session(phantom.app_state["engine"]) as session:
            rows = session.exec(select(PhantomToken)).all()

        assert len(rows) == 1
        row = rows[0]
        assert row.handle_sha256 == hashlib.sha256(handle.encode()).hexdigest()
        assert all(handle not in str(value) for value in row.model_dump().values())
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (row.jwt, row.jti, row.client_id, row.expires_at) == (token, claims["jti"], "todo-cli", claims["exp"])


class TestIntrospection:
    def test_a_handle_is_introspected_as_its_jwt(self, phantom, password_token, introspect, resolve):
        handle = password_token(phantom, "alice")
        token = resolved_jwt(resolve(phantom, handle))

        body = introspect(phantom, handle)

        assert body["active"] is True
        assert body["sub"] == ALICE
        assert body["client_id"] == "todo-cli"
        assert body["username"] == "alice"
        assert body["token_type"] == "Bearer"
        assert body == introspect(phantom, token)

    def test_the_gateway_gets_the_jwt(self, phantom, password_token, introspect, resolve, decode, settings):
        handle = password_token(phantom, "alice")

        token = resolved_jwt(resolve(phantom, handle))

        header, claims = decode(phantom, token)  # verified against GET /jwks
        assert header["typ"] == "at+jwt"
        assert claims["iss"] == settings.issuer
        assert claims["sub"] == ALICE
        assert claims["aud"] == ["todos", "shares", "reminders"]
        json_answer = introspect(phantom, handle)
        assert claims == {k: v for k, v in json_answer.items() if k not in INTROSPECTION_ONLY}

    @pytest.mark.parametrize("accept", ["application/json;q=0.5, application/jwt", "Application/JWT; q=0.8"])
    def test_application_jwt_among_others(self, phantom, password_token, resolve, accept):
        response = resolve(phantom, password_token(phantom, "alice"), accept=accept)

        assert is_jwt(resolved_jwt(response))

    @pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*", "application/jwt;q=0", ""])
    def test_without_asking_for_application_jwt_by_name_json(self, phantom, password_token, resolve, accept):
        response = resolve(phantom, password_token(phantom, "alice"), accept=accept)

        assert answered_json(response)["active"] is True

    def test_not_for_a_client_that_may_not_resolve(self, phantom, password_token, resolve):
        # A client that may introspect but not resolve (the demo realm has none: shares is made one here).
        clients = phantom.app_state["realm"].clients
        clients["shares"] = dataclasses.replace(clients["shares"], may_introspect=True)

        response = resolve(phantom, password_token(phantom, "alice"), as_client="shares")

        body = answered_json(response)
        assert body["active"] is True
        assert body["sub"] == ALICE

    def test_a_jwt_asked_to_be_resolved_is_inactive(self, phantom, cc_token, resolve, introspect):
        token = cc_token(phantom, "reminders")  # an active JWT, but no handle

        assert answered_json(resolve(phantom, token)) == {"active": False}
        assert introspect(phantom, token)["active"] is True

    def test_the_jwt_behind_a_handle_is_no_handle_either(self, phantom, password_token, resolve):
        token = resolved_jwt(resolve(phantom, password_token(phantom, "alice")))

        assert answered_json(resolve(phantom, token)) == {"active": False}

    def test_an_unknown_handle(self, phantom, introspect, resolve):
        handle = secrets.token_urlsafe(32)

        assert introspect(phantom, handle) == {"active": False}
        assert answered_json(resolve(phantom, handle)) == {"active": False}

    def test_a_handle_for_an_expired_jwt(self, phantom, settings, resolve, introspect):
        now = int(time.time())
        claims = {
            "iss": settings.issuer,
            "sub": ALICE,
            "aud": "todos",
            "iat": now - 120,
            "exp": now - 60,
            "jti": "e" * 32,
            "client_id": "todo-cli",
            "scope": "todos:read",
        }
        handle = phantom.app_state["phantoms"].wrap(phantom.app_state["ring"].sign(claims), claims)

        assert introspect(phantom, handle) == {"active": False}
        assert answered_json(resolve(phantom, handle)) == {"active": False}

    def test_public_clients_still_may_not_introspect(self, phantom, password_token, oauth_error):
        form = {"token": password_token(phantom, "alice"), "client_id": "todo-cli"}

        oauth_error(phantom.post("/introspect", data=form, headers=ACCEPT_JWT), "invalid_client", 401)


class TestRevocation:
    def test_revoking_the_handle_revokes_its_jwt(self, phantom, password_token, resolve, introspect):
        handle = password_token(phantom, "alice")
        token = resolved_jwt(resolve(phantom, handle))

        response = phantom.post("/revoke", data={"token": handle, "client_id": "todo-cli"})

        assert response.status_code == 200
        assert introspect(phantom, handle) == {"active": False}
        assert introspect(phantom, token) == {"active": False}
        assert answered_json(resolve(phantom, handle)) == {"active": False}

    def test_only_that_handle(self, phantom, password_token, introspect):
        revoked, kept = password_token(phantom, "alice"), password_token(phantom, "alice")

        phantom.post("/revoke", data={"token": revoked, "client_id": "todo-cli"})

        assert introspect(phantom, kept)["active"] is True

    def test_another_client_may_not_revoke_the_handle(self, phantom, password_token, basic, introspect, oauth_error):
        handle = password_token(phantom, "alice")

        oauth_error(phantom.post("/revoke", data={"token": handle}, auth=basic("reminders")), "invalid_request")
        assert introspect(phantom, handle)["active"] is True


class TestUserinfo:
    def test_a_handle_works(self, phantom, password_token):
        handle = password_token(phantom, "alice", scope="openid todos:read")

        response = phantom.get("/userinfo", headers={"Authorization": f"Bearer {handle}"})

        assert response.status_code == 200, response.text
        assert response.json() == {"sub": ALICE, "preferred_username": "alice", "email": "alice@example.test"}

    def test_a_revoked_handle_does_not(self, phantom, password_token, problem):
        handle = password_token(phantom, "alice", scope="openid todos:read")
        phantom.post("/revoke", data={"token": handle, "client_id": "todo-cli"})

        problem(phantom.get("/userinfo", headers={"Authorization": f"Bearer {handle}"}), 401, "invalid-token")


class TestConfiguration:
    def test_an_unknown_client_stops_start_up(self, make_client, make_settings, monkeypatch):
        monkeypatch.setenv("IDENTITY_OPAQUE_TOKEN_CLIENTS", '["todo-cli", "todo-cly"]')

        settings = make_settings()

        with (
            pytest.raises(ValueError, match=r"IDENTITY_OPAQUE_TOKEN_CLIENTS .* todo-cly \(it has: "),
            make_client(settings),
        ):
            pass

    def test_the_demo_realm(self):
        clients = load_realm(DEMO_REALM, environ={}).clients

        assert not any(c.opaque_access_tokens for c in clients.values())
        assert {c.client_id for c in clients.values() if c.may_resolve_phantom_tokens} == {"gateway"}

    def test_with_opaque_tokens_changes_only_the_named_clients(self):
        realm = load_realm(DEMO_REALM, environ={})

        changed = with_opaque_tokens(realm, ["todo-cli"])

        assert changed.clients["todo-cli"].opaque_access_tokens is True
        assert realm.clients["todo-cli"].opaque_access_tokens is False  # the loaded realm is not mutated
        assert changed.clients["todo-cli"].scopes == realm.clients["todo-cli"].scopes
        assert {c for c, client in changed.clients.items() if client.opaque_access_tokens} == {"todo-cli"}


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TestPhantomTokens:
    """The store on its own, on the injected clock that TokenService also reads (as in the app)."""

    @pytest.fixture
    def service(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path}/phantom.db")
        SQLModel.metadata.create_all(engine)
        clock = FakeClock(time.time())
        ring = KeyRing(engine, alg="ES256", publish_delay=0, token_lifetime=60, leeway=10, clock=clock)
        ring.load()
        tokens = TokenService(ring, engine, issuer="http://identity.test", lifetime=60, clock=clock)
        yield tokens, PhantomTokens(engine, clock=tokens.now), clock, engine
        engine.dispose()

    @pytest.fixture
    def issue(self, service):
        tokens, phantoms, _, _ = service
        client = load_realm(DEMO_REALM, environ={}).clients["reminders"]

        def issue() -> tuple[str, str, dict[str, Any]]:
            token, claims = tokens.issue(
                client=client, grant="client_credentials", audiences=("todos",), scopes=frozenset()
            )
            return phantoms.wrap(token, claims), token, claims

        return issue

    async def test_a_handle_resolves_to_its_jwt_until_exp(self, service, issue):
        tokens, phantoms, clock, _ = service
        handle, token, claims = issue()

        clock.now = claims["exp"] - 1
        assert phantoms.resolve(handle) == token
        assert await tokens.active_claims(token) == claims
        clock.now = claims["exp"]  # like the JWT: no leeway at the issuer
        assert phantoms.resolve(handle) is None
        assert await tokens.active_claims(token) is None

    def test_anything_else_resolves_to_nothing(self, service, issue):
        _, phantoms, _, _ = service
        _, token, _ = issue()

        assert phantoms.resolve(token) is None
        assert phantoms.resolve(secrets.token_urlsafe(32)) is None
        assert phantoms.resolve("") is None

    def test_expired_rows_are_pruned_on_the_next_issue(self, service, issue):
        _, _, clock, engine = service
        old_handle, _, old_claims = issue()

        clock.now = old_claims["exp"]
        issue()

        with Session(engine) as session:
            hashes = session.exec(select(PhantomToken.handle_sha256)).all()
        assert len(hashes) == 1
        assert hashlib.sha256(old_handle.encode()).hexdigest() not in hashes

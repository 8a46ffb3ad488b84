"""Token introspection (RFC 7662), revocation (RFC 7009) and the TokenService behind both."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import SQLModel

from identity.keys import KeyRing
from identity.realm import load_realm
from identity.settings import DEMO_REALM
from identity.tokens import TokenService
from servicekit import make_engine


def claims_for(settings, **overrides: Any) -> dict[str, Any]:
    """A well-formed access token's claims, as identity would mint them for alice."""
    now = int(time.time())
    claims = {
        "iss": settings.issuer,
        "sub": "6b3c1f7e-2a41-4c55-9a0e-0c1d5e8a7a01",
        "aud": "todos",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "client_id": "todo-cli",
        "scope": "todos:read",
    }
    return claims | overrides


class TestIntrospection:
    def test_no_client_authentication(self, client, password_token, oauth_error):
        token = password_token(client, "alice")

        response = client.post("/introspect", data={"token": token})

        oauth_error(response, "invalid_client", 401)
        assert response.headers["www-authenticate"].startswith("Basic ")

    def test_public_client_may_not_introspect(self, client, password_token, oauth_error):
        token = password_token(client, "alice")

        oauth_error(client.post("/introspect", data={"token": token, "client_id": "todo-cli"}), "invalid_client", 401)

    def test_wrong_secret(self, client, password_token, oauth_error):
        token = password_token(client, "alice")

        oauth_error(client.post("/introspect", data={"token": token}, auth=("gateway", "wrong")), "invalid_client", 401)

    def test_active_user_token(self, client, password_token, decode, introspect):
        token = password_token(client, "alice")
        _, claims = decode(client, token)

        body = introspect(client, token)

        assert body["active"] is True
        assert body["sub"] == claims["sub"]
        assert body["client_id"] == "todo-cli"
        assert body["scope"] == claims["scope"]
        assert body["exp"] == claims["exp"]
        assert body["username"] == "alice"
        assert body["token_type"] == "Bearer"

    @pytest.mark.parametrize("caller", ["shares", "reminders", "identity-admin"])
    def test_a_confidential_client_without_the_permission_is_refused(
        self, client, basic, password_token, oauth_error, caller
    ):
        # Authenticated, but not `may_introspect` in the realm: 403, and not a word about the token.
        token = password_token(client, "alice")

        body = oauth_error(
            client.post("/introspect", data={"token": token}, auth=basic(caller)), "unauthorized_client", 403
        )

        assert "active" not in body

    def test_the_permission_is_per_client_in_the_realm(self, client):
        clients = client.app_state["realm"].clients
        assert {c.client_id for c in clients.values() if c.may_introspect} == {"gateway"}

    def test_active_client_token(self, client, cc_token, introspect):
        body = introspect(client, cc_token(client, "reminders"))

        assert body["active"] is True
        assert body["sub"] == "reminders"
        assert body["scope"] == "todos:due:read users:read"
        assert "username" not in body

    def test_client_secret_post(self, client, password_token, client_secrets):
        form = {
            "token": password_token(client, "alice"),
            "client_id": "gateway",
            "client_secret": client_secrets["gateway"],
        }

        response = client.post("/introspect", data=form)

        assert response.status_code == 200
        assert response.json()["active"] is True

    def test_expired_token(self, client, settings, introspect):
        ring = client.app_state["ring"]
        now = int(time.time())
        token = ring.sign(claims_for(settings, iat=now - 120, exp=now - 60))

        assert introspect(client, token) == {"active": False}
        # The same claims, unexpired, are active: only `exp` made the difference.
        assert introspect(client, ring.sign(claims_for(settings)))["active"] is True

    def test_forged_token_with_a_known_kid(self, client, settings, introspect):
        kid = client.get("/jwks").json()["keys"][0]["kid"]
        forger = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode(claims_for(settings), forger, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})

        assert introspect(client, token) == {"active": False}

    def test_token_with_an_unknown_kid(self, client, settings, introspect):
        forger = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode(claims_for(settings), forger, algorithm="ES256", headers={"kid": "nope", "typ": "at+jwt"})

        assert introspect(client, token) == {"active": False}

    def test_token_from_another_issuer(self, client, settings, introspect):
        token = client.app_state["ring"].sign(claims_for(settings, iss="http://evil.test"))

        assert introspect(client, token) == {"active": False}

    def test_a_jwt_that_is_not_an_access_token(self, client, settings, introspect):
        # RFC 9068 section 2.1: an ID token or any other JWT from the issuer is no access token.
        token = client.app_state["ring"].sign(claims_for(settings), typ="JWT")

        assert introspect(client, token) == {"active": False}

    def test_hmac_token(self, client, settings, introspect):
        kid = client.get("/jwks").json()["keys"][0]["kid"]
        token = jwt.encode(claims_for(settings), "k" * 32, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})

        assert introspect(client, token) == {"active": False}

    @pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
    def test_garbage(self, client, introspect, garbage):
        assert introspect(client, garbage) == {"active": False}

    def test_missing_token(self, client, basic, oauth_error):
        oauth_error(
            client.post("/introspect", data={"token_type_hint": "access_token"}, auth=basic("gateway")),
            "invalid_request",
        )

    def test_json_body(self, client, basic, oauth_error):
        oauth_error(client.post("/introspect", json={"token": "x"}, auth=basic("gateway")), "invalid_request")


class TestRevocation:
    def test_owner_revokes_its_token(self, client, password_token, introspect):
        token = password_token(client, "alice")
        assert introspect(client, token)["active"] is True

        response = client.post("/revoke", data={"token": token, "client_id": "todo-cli"})

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert introspect(client, token) == {"active": False}

    def test_only_that_token_is_revoked(self, client, password_token, introspect):
        revoked, other = password_token(client, "alice"), password_token(client, "alice")

        client.post("/revoke", data={"token": revoked, "client_id": "todo-cli"})

        assert introspect(client, other)["active"] is True

    def test_confidential_client_revokes_its_token(self, client, cc_token, basic, introspect):
        token = cc_token(client, "reminders")

        assert client.post("/revoke", data={"token": token}, auth=basic("reminders")).status_code == 200
        assert introspect(client, token) == {"active": False}

    def test_revoking_twice(self, client, password_token):
        token = password_token(client, "alice")

        for _ in range(2):
            assert client.post("/revoke", data={"token": token, "client_id": "todo-cli"}).status_code == 200

    def test_unknown_token(self, client):
        response = client.post("/revoke", data={"token": "not-a-token", "client_id": "todo-cli"})

        assert response.status_code == 200

    def test_another_clients_token(self, client, cc_token, introspect, oauth_error):
        token = cc_token(client, "reminders")

        oauth_error(client.post("/revoke", data={"token": token, "client_id": "todo-cli"}), "invalid_request")
        assert introspect(client, token)["active"] is True

    def test_requires_client_authentication(self, client, password_token, oauth_error):
        token = password_token(client, "alice")

        oauth_error(client.post("/revoke", data={"token": token}), "invalid_client", 401)

    def test_missing_token(self, client, oauth_error):
        oauth_error(client.post("/revoke", data={"client_id": "todo-cli"}), "invalid_request")

    def test_survives_a_restart(self, client, make_client, settings, password_token, introspect):
        revoked, kept = password_token(client, "alice"), password_token(client, "alice")
        assert client.post("/revoke", data={"token": revoked, "client_id": "todo-cli"}).status_code == 200

        with make_client(settings) as restarted:
            assert introspect(restarted, revoked) == {"active": False}
            # Not because the restart lost the signing key: an unrevoked token is still active.
            assert introspect(restarted, kept)["active"] is True


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TestActiveClaims:
    """TokenService answers on its own (injected) clock, with no leeway: the issuer's clock is the reference."""

    @pytest.fixture
    def service(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path}/tokens.db")
        SQLModel.metadata.create_all(engine)
        clock = FakeClock(time.time())
        ring = KeyRing(engine, alg="ES256", publish_delay=0, token_lifetime=60, leeway=10, clock=clock)
        ring.load()
        yield TokenService(ring, engine, issuer="http://identity.test", lifetime=60, clock=clock), clock
        engine.dispose()

    @pytest.fixture
    def realm(self):
        return load_realm(DEMO_REALM, environ={})

    async def test_fresh_token_is_active(self, service, realm):
        tokens, _ = service
        token, claims = tokens.issue(
            client=realm.clients["todo-cli"],
            grant="password",
            audiences=("todos",),
            scopes=frozenset(),
            user=realm.users["bob"],
        )

        assert await tokens.active_claims(token) == claims

    async def test_token_is_inactive_from_exp_on_the_injected_clock(self, service, realm):
        tokens, clock = service
        token, claims = tokens.issue(
            client=realm.clients["reminders"], grant="client_credentials", audiences=("todos",), scopes=frozenset()
        )

        clock.now = claims["exp"] - 1
        assert await tokens.active_claims(token) == claims
        clock.now = claims["exp"]  # no leeway at the issuer: expired at exp exactly
        assert await tokens.active_claims(token) is None

    async def test_revoked_token_is_inactive(self, service, realm):
        tokens, _ = service
        token, claims = tokens.issue(
            client=realm.clients["reminders"], grant="client_credentials", audiences=("todos",), scopes=frozenset()
        )

        tokens.revoke(claims)

        assert tokens.is_revoked(claims["jti"])
        assert await tokens.active_claims(token) is None

"""RFC 8693 token exchange: `shares` trades a user's edge token for a delegated token for one API.

Ref: https://www.rfc-editor.org/rfc/rfc8693 — the request (section 2.1), the response (section 2.2.1),
errors (section 2.2.2: an invalid subject token is `invalid_request`), the `act` claim (section 4.1).
"""

from __future__ import annotations

import time
import tomllib
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from identity.settings import DEMO_REALM

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
REFRESH_TOKEN = "urn:ietf:params:oauth:token-type:refresh_token"

USER_IDS = {u["username"]: u["id"] for u in tomllib.loads(DEMO_REALM.read_text())["users"]}
ALICE = USER_IDS["alice"]
#: Every error code RFC 6749 section 5.2 defines for the token endpoint, plus RFC 8707's invalid_target.
RFC_TOKEN_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
}
#: What a delegated user token carries: RFC 9068's claims, the user's, and the actor.
DELEGATED_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "scope",
    "roles",
    "preferred_username",
    "email",
    "act",
}


@pytest.fixture
def exchange(basic) -> Callable[..., Any]:
    """`exchange(client, subject_token, audience="todos")`: POST /token as `shares` (HTTP Basic).

    `auth` is a client id (Basic with its secret), a `(client_id, secret)` pair, or None for no
    Authorization header. A form value of None leaves that parameter out.
    """

    def post(client, subject_token: str | None, *, auth: str | tuple[str, str] | None = "shares", **form: Any):
        data = {"grant_type": GRANT, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN} | form
        data = {k: v for k, v in data.items() if v is not None}
        return client.post("/token", data=data, auth=basic(auth) if isinstance(auth, str) else auth)

    return post


@pytest.fixture
def exchanges_issued(basic) -> Callable[..., int]:
    """How many delegated tokens identity says it issued to a client (GET /admin/stats)."""

    def count(client, client_id: str = "shares") -> int:
        response = client.get("/admin/stats", auth=basic("identity-admin"))
        assert response.status_code == 200, response.text
        rows = [r for r in response.json()["data"] if r["client_id"] == client_id and r["grant_type"] == GRANT]
        assert len(rows) <= 1, rows
        return rows[0]["count"] if rows else 0

    return count


@pytest.fixture
def refused(exchange, exchanges_issued, oauth_error) -> Callable[..., dict[str, str]]:
    """`refused(client, "invalid_request", token, audience="todos")`: the RFC 6749 error, and no token issued."""

    def check(client, error: str, subject_token: str | None, *, status: int = 400, **kwargs: Any) -> dict[str, str]:
        before = exchanges_issued(client)
        response = exchange(client, subject_token, **kwargs)
        body = oauth_error(response, error, status)
        assert "access_token" not in response.text
        assert exchanges_issued(client) == before
        return body

    return check


@pytest.fixture
def alice_token(client, password_token) -> str:
    """alice's edge token from todo-cli: aud todos/shares/reminders, every todo-cli scope."""
    return password_token(client, "alice")


@pytest.fixture
def sign() -> Callable[..., str]:
    """`sign(client, **claims)`: a token signed with identity's own signing key (alice's by default)."""

    def make(client, *, typ: str = "at+jwt", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": client.app_state["settings"].issuer,
            "sub": ALICE,
            "aud": ["todos", "shares"],
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "client_id": "todo-cli",
            "scope": "todos:read todos:write todos:share",
        } | overrides
        return client.app_state["ring"].sign({k: v for k, v in claims.items() if v is not None}, typ=typ)

    return make


class TestDelegatedToken:
    def test_response(self, client, alice_token, exchange, settings):
        response = exchange(client, alice_token, audience="todos", scope="todos:read todos:share")

        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
        assert body["issued_token_type"] == ACCESS_TOKEN
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "todos:read todos:share"
        assert body["expires_in"] == settings.exchanged_token_lifetime_seconds == 300
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"

    def test_claims(self, client, alice_token, exchange, decode, settings):
        _, subject = decode(client, alice_token)

        response = exchange(client, alice_token, audience="todos", scope="todos:read todos:share")

        assert response.status_code == 200, response.text
        header, claims = decode(client, response.json()["access_token"], audience="todos")
        assert header["typ"] == "at+jwt"
        assert set(claims) == DELEGATED_CLAIMS
        assert claims["iss"] == settings.issuer
        assert claims["sub"] == ALICE
        assert claims["act"] == {"sub": "shares"}
        assert claims["aud"] == "todos"  # one audience, as a string
        assert claims["scope"] == "todos:read todos:share"
        assert claims["client_id"] == "shares"
        assert claims["roles"] == ["user"]
        assert claims["preferred_username"] == "alice"
        assert claims["email"] == "alice@example.test"
        assert claims["jti"] != subject["jti"]
        assert claims["exp"] - claims["iat"] == 300
        assert claims["exp"] <= subject["exp"]

    def test_the_response_describes_the_token(self, client, alice_token, exchange, decode):
        body = exchange(client, alice_token, audience="todos", scope="todos:read").json()

        _, claims = decode(client, body["access_token"])
        assert body["scope"] == claims["scope"] == "todos:read"
        assert body["expires_in"] == claims["exp"] - claims["iat"]

    def test_introspection_shows_the_actor(self, client, alice_token, exchange, introspect):
        token = exchange(client, alice_token, audience="todos").json()["access_token"]

        answer = introspect(client, token)

        assert answer["active"] is True
        assert answer["sub"] == ALICE
        assert answer["username"] == "alice"
        assert answer["client_id"] == "shares"
        assert answer["act"] == {"sub": "shares"}

    def test_without_scope_all_of_the_clients_scopes_for_the_audience(self, client, alice_token, exchange, decode):
        response = exchange(client, alice_token, audience="todos")

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"])
        # shares may have todos:read todos:share users:read; for todos only the first two, and alice's
        # edge token has both (but todos:write, which it also has, is not for shares).
        assert claims["scope"] == "todos:read todos:share"

    def test_without_scope_only_what_the_subject_token_has(self, client, password_token, exchange, decode):
        # The subject token has todos:read but not todos:share: asking for no particular scope must
        # narrow to what both the client may have and the subject token carries, not fail.
        subject = password_token(client, "alice", scope="todos:read")

        response = exchange(client, subject, audience="todos")

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"])
        assert claims["scope"] == "todos:read"

    def test_a_narrower_scope(self, client, alice_token, exchange, decode):
        response = exchange(client, alice_token, audience="todos", scope="todos:read")

        assert response.status_code == 200, response.text
        assert decode(client, response.json()["access_token"])[1]["scope"] == "todos:read"

    def test_resource_works_like_audience(self, client, alice_token, exchange, decode):
        response = exchange(client, alice_token, resource="todos", scope="todos:read todos:share")

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"], audience="todos")
        assert claims["aud"] == "todos"
        assert claims["scope"] == "todos:read todos:share"

    def test_the_same_audience_twice_is_one_audience(self, client, alice_token, exchange, decode):
        response = exchange(client, alice_token, audience=["todos", "todos"], resource="todos")

        assert response.status_code == 200, response.text
        assert decode(client, response.json()["access_token"])[1]["aud"] == "todos"

    def test_jwt_subject_token_type(self, client, alice_token, exchange, decode):
        response = exchange(client, alice_token, subject_token_type=JWT_TOKEN, audience="todos")

        assert response.status_code == 200, response.text
        assert response.json()["issued_token_type"] == ACCESS_TOKEN
        assert decode(client, response.json()["access_token"])[1]["act"] == {"sub": "shares"}

    @pytest.mark.parametrize("requested", [ACCESS_TOKEN, JWT_TOKEN])
    def test_requested_token_type_access_token_or_jwt(self, client, alice_token, exchange, requested):
        response = exchange(client, alice_token, audience="todos", requested_token_type=requested)

        assert response.status_code == 200, response.text
        assert response.json()["issued_token_type"] == ACCESS_TOKEN

    def test_client_secret_post(self, client, alice_token, exchange, client_secrets, decode):
        response = exchange(
            client, alice_token, auth=None, audience="todos", client_id="shares", client_secret=client_secrets["shares"]
        )

        assert response.status_code == 200, response.text
        assert decode(client, response.json()["access_token"])[1]["act"] == {"sub": "shares"}

    def test_the_subject_may_be_any_user(self, client, password_token, exchange, decode):
        response = exchange(client, password_token(client, "carol"), audience="todos")

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"])
        assert claims["sub"] == USER_IDS["carol"]
        assert claims["preferred_username"] == "carol"
        assert claims["roles"] == ["user", "admin"]


class TestLifetime:
    def test_never_beyond_the_subject_token(self, make_client, make_settings, password_token, exchange, decode):
        with make_client(make_settings(access_token_lifetime_seconds=60)) as client:
            subject = password_token(client, "alice")
            response = exchange(client, subject, audience="todos")
            _, subject_claims = decode(client, subject)
            assert response.status_code == 200, response.text
            _, claims = decode(client, response.json()["access_token"])

        assert subject_claims["exp"] - subject_claims["iat"] == 60
        assert claims["exp"] <= subject_claims["exp"]
        assert claims["exp"] - claims["iat"] <= 60
        assert response.json()["expires_in"] == claims["exp"] - claims["iat"]

    def test_a_subject_token_about_to_expire(self, client, exchange, sign, decode):
        subject = sign(client, exp=int(time.time()) + 3)

        response = exchange(client, subject, audience="todos")

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"])
        assert claims["exp"] <= jwt.decode(subject, options={"verify_signature": False})["exp"]
        assert 1 <= claims["exp"] - claims["iat"] <= 3

    def test_the_setting(self, make_client, make_settings, password_token, exchange, decode):
        with make_client(make_settings(exchanged_token_lifetime_seconds=30)) as client:
            response = exchange(client, password_token(client, "alice"), audience="todos")
            assert response.status_code == 200, response.text
            _, claims = decode(client, response.json()["access_token"])

        assert response.json()["expires_in"] == 30
        assert claims["exp"] - claims["iat"] == 30


class TestActorChain:
    """RFC 8693 section 4.1: the current actor is `act.sub`; earlier actors nest inside it.

    No client of the demo realm can re-exchange a delegated token (shares issues them for todos or
    identity only, never for a client that may exchange), so the earlier delegation is signed here.
    """

    def test_a_prior_actor_nests_inside(self, client, exchange, sign, decode):
        subject = sign(client, aud=["shares", "todos"], client_id="gateway", act={"sub": "gateway"})

        response = exchange(client, subject, audience="todos", scope="todos:read")

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"])
        assert claims["sub"] == ALICE
        assert claims["act"] == {"sub": "shares", "act": {"sub": "gateway"}}

    def test_a_longer_chain_is_kept_whole(self, client, exchange, sign, decode):
        prior = {"sub": "gateway", "act": {"sub": "todo-web"}}
        subject = sign(client, aud="shares", act=prior)

        response = exchange(client, subject, audience="todos")

        assert response.status_code == 200, response.text
        assert decode(client, response.json()["access_token"])[1]["act"] == {"sub": "shares", "act": prior}

    def test_a_subject_without_act_starts_the_chain(self, client, exchange, sign, decode):
        response = exchange(client, sign(client, aud="shares"), audience="todos")

        assert response.status_code == 200, response.text
        assert decode(client, response.json()["access_token"])[1]["act"] == {"sub": "shares"}


class TestRequestRefused:
    def test_missing_subject_token(self, client, refused):
        refused(client, "invalid_request", None, audience="todos")

    def test_empty_subject_token(self, client, refused):
        refused(client, "invalid_request", "", audience="todos")

    def test_missing_subject_token_type(self, client, alice_token, refused):
        refused(client, "invalid_request", alice_token, subject_token_type=None, audience="todos")

    @pytest.mark.parametrize("token_type", [ID_TOKEN, REFRESH_TOKEN, "urn:ietf:params:oauth:token-type:saml2", "jwt"])
    def test_unsupported_subject_token_type(self, client, alice_token, refused, token_type):
        refused(client, "invalid_request", alice_token, subject_token_type=token_type, audience="todos")

    @pytest.mark.parametrize("token_type", [REFRESH_TOKEN, ID_TOKEN])
    def test_unsupported_requested_token_type(self, client, alice_token, refused, token_type):
        refused(client, "invalid_request", alice_token, requested_token_type=token_type, audience="todos")

    def test_actor_token(self, client, alice_token, cc_token, refused):
        actor = cc_token(client, "shares")

        refused(
            client, "invalid_request", alice_token, actor_token=actor, actor_token_type=ACCESS_TOKEN, audience="todos"
        )

    def test_subject_token_sent_twice(self, client, alice_token, refused):
        refused(client, "invalid_request", [alice_token, alice_token], audience="todos")


class TestSubjectTokenRefused:
    """RFC 8693 section 2.2.2: an invalid subject token is `invalid_request` (not `invalid_grant`)."""

    @pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
    def test_garbage(self, client, refused, garbage):
        refused(client, "invalid_request", garbage, audience="todos")

    def test_signed_by_a_foreign_key_with_identitys_kid(self, client, alice_token, refused):
        header = jwt.get_unverified_header(alice_token)
        claims = jwt.decode(alice_token, options={"verify_signature": False})
        forged = jwt.encode(
            claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": header["kid"]}
        )

        refused(client, "invalid_request", forged, audience="todos")

    def test_signed_by_an_unknown_key(self, client, alice_token, refused):
        claims = jwt.decode(alice_token, options={"verify_signature": False})
        forged = jwt.encode(
            claims,
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": "mallory", "typ": "at+jwt"},
        )

        refused(client, "invalid_request", forged, audience="todos")

    def test_expired(self, client, sign, refused):
        now = int(time.time())

        refused(client, "invalid_request", sign(client, iat=now - 120, exp=now - 60), audience="todos")

    def test_revoked(self, client, alice_token, exchange, refused):
        assert client.post("/revoke", data={"token": alice_token, "client_id": "todo-cli"}).status_code == 200

        refused(client, "invalid_request", alice_token, audience="todos")

    def test_another_issuer(self, client, sign, refused):
        refused(client, "invalid_request", sign(client, iss="http://elsewhere.test"), audience="todos")

    def test_not_an_access_token(self, client, sign, refused):
        # Signed by identity, but typed as a plain JWT (say an ID token): RFC 9068 section 4.
        refused(client, "invalid_request", sign(client, typ="JWT"), audience="todos")

    def test_not_meant_for_the_client(self, client, password_token, refused):
        subject = password_token(client, "alice", audience="todos")  # aud: "todos" only

        refused(client, "invalid_request", subject, audience="todos")

    def test_not_meant_for_the_client_list_audience(self, client, password_token, refused):
        subject = password_token(client, "alice", audience=["todos", "reminders"])

        refused(client, "invalid_request", subject, audience="todos")

    def test_an_already_delegated_token(self, client, alice_token, exchange, refused):
        # shares' delegated token is for todos: shares cannot exchange it again.
        delegated = exchange(client, alice_token, audience="todos").json()["access_token"]

        refused(client, "invalid_request", delegated, audience="todos")

    @pytest.mark.parametrize("owner", ["shares", "reminders"])
    def test_a_client_credentials_token(self, client, cc_token, refused, owner):
        refused(client, "invalid_request", cc_token(client, owner), audience="todos")

    def test_no_user_even_when_meant_for_the_client(self, client, sign, refused):
        # No realm client can get a client-credentials token for aud shares, so one is signed here:
        # it passes the audience check and must be refused because no user is behind it.
        subject = sign(client, sub="reminders", client_id="reminders", aud=["shares"], scope="todos:read")

        body = refused(client, "invalid_request", subject, audience="todos")
        assert "user" in body["error_description"]

    def test_an_unknown_user(self, client, sign, refused):
        refused(client, "invalid_request", sign(client, sub=str(uuid.uuid4())), audience="todos")


class TestAudienceRefused:
    def test_no_audience(self, client, alice_token, refused):
        refused(client, "invalid_request", alice_token)

    def test_an_empty_audience_is_no_audience(self, client, alice_token, refused):
        refused(client, "invalid_request", alice_token, audience="")

    @pytest.mark.parametrize("audience", ["reminders", "shares", "elsewhere"])
    def test_an_audience_the_client_may_not_have(self, client, alice_token, refused, audience):
        refused(client, "invalid_target", alice_token, audience=audience)

    def test_a_resource_the_client_may_not_have(self, client, alice_token, refused):
        refused(client, "invalid_target", alice_token, resource="reminders")

    def test_two_audiences(self, client, alice_token, refused):
        refused(client, "invalid_target", alice_token, audience=["todos", "identity"])

    def test_an_audience_and_another_resource(self, client, alice_token, refused):
        refused(client, "invalid_target", alice_token, audience="todos", resource="identity")


class TestScopeRefused:
    def test_beyond_the_client(self, client, alice_token, refused):
        # alice's token has todos:write, but shares may never have it.
        refused(client, "invalid_scope", alice_token, audience="todos", scope="todos:read todos:write")

    def test_unknown_scope(self, client, alice_token, refused):
        refused(client, "invalid_scope", alice_token, audience="todos", scope="todos:admin")

    def test_not_for_the_audience(self, client, alice_token, refused):
        # shares may have users:read, but that is identity's scope, not todos'.
        refused(client, "invalid_scope", alice_token, audience="todos", scope="users:read")

    def test_beyond_the_subject_token(self, client, password_token, refused):
        subject = password_token(client, "alice", scope="todos:read")

        refused(client, "invalid_scope", subject, audience="todos", scope="todos:share")

    def test_beyond_the_subject_token_for_identity(self, client, alice_token, refused):
        # shares may have users:read for identity, but alice's edge token does not carry it.
        refused(client, "invalid_scope", alice_token, audience="identity", scope="users:read")


class TestClientRefused:
    @pytest.mark.parametrize("client_id", ["reminders", "gateway"])
    def test_a_client_without_the_grant(self, client, alice_token, refused, client_id):
        refused(client, "unauthorized_client", alice_token, auth=client_id, audience="todos")

    def test_a_public_client(self, client, alice_token, exchange, exchanges_issued, oauth_error):
        # todo-cli authenticates by client_id alone (a public client). The endpoint answers
        # unauthorized_client (RFC 6749 section 5.2: "not authorized to use this authorization grant
        # type") because the grant is not in its grant_types; the public-client check inside the
        # handler would answer the same. invalid_client would also be an RFC code, but it means failed
        # authentication, which did not happen here.
        response = exchange(client, alice_token, auth=None, client_id="todo-cli", audience="todos")

        body = oauth_error(response, "unauthorized_client")
        assert body["error"] in RFC_TOKEN_ERRORS
        assert exchanges_issued(client, "todo-cli") == 0

    def test_wrong_secret(self, client, alice_token, refused):
        response_body = refused(
            client, "invalid_client", alice_token, auth=("shares", "wrong"), audience="todos", status=401
        )
        assert response_body["error"] in RFC_TOKEN_ERRORS

    def test_wrong_secret_is_challenged(self, client, alice_token, exchange):
        response = exchange(client, alice_token, auth=("shares", "wrong"), audience="todos")

        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic ")

    def test_no_client_authentication(self, client, alice_token, refused):
        refused(client, "invalid_client", alice_token, auth=None, audience="todos", status=401)

    def test_an_unknown_client(self, client, alice_token, refused):
        refused(client, "invalid_client", alice_token, auth=("mallory", "x"), audience="todos", status=401)


PUBLIC_EXCHANGER_REALM = """
[[apis]]
audience = "todos"
scopes = ["todos:read"]

[[users]]
id = "6b3c1f7e-2a41-4c55-9a0e-0c1d5e8a7a01"
username = "alice"
password = "alice"
email = "alice@example.test"

[[clients]]
client_id = "todo-cli"
public = true
grant_types = ["password"]
audiences = ["todos", "kiosk"]
scopes = ["todos:read"]

# A misconfigured public client that lists the grant: the handler itself must still refuse it.
[[clients]]
client_id = "kiosk"
public = true
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
audiences = ["todos"]
scopes = ["todos:read"]

[[clients]]
client_id = "identity-admin"
secret_env = "IDENTITY_CLIENT_SECRET_IDENTITY_ADMIN"
admin = true
"""


def test_a_public_client_with_the_grant_is_still_refused(
    make_client, make_settings, tmp_path, password_token, exchange, exchanges_issued, oauth_error
):
    realm_file = tmp_path / "realm.toml"
    realm_file.write_text(PUBLIC_EXCHANGER_REALM)
    with make_client(make_settings(realm_file=realm_file)) as client:
        subject = password_token(client, "alice")
        response = exchange(client, subject, auth=None, client_id="kiosk", audience="todos")
        issued = exchanges_issued(client, "kiosk")

    oauth_error(response, "unauthorized_client")
    assert issued == 0


SINGLE_AUDIENCE_REALM = """
[[apis]]
audience = "todos"
scopes = ["todos:read"]

[[users]]
id = "6b3c1f7e-2a41-4c55-9a0e-0c1d5e8a7a01"
username = "alice"
password = "alice"
email = "alice@example.test"

[[clients]]
client_id = "todo-cli"
public = true
grant_types = ["password"]
audiences = ["todos", "solo"]
scopes = ["todos:read"]

# An exchanging client with a single audience: "name the one audience" must still hold for it.
[[clients]]
client_id = "solo"
secret_env = "IDENTITY_CLIENT_SECRET_SOLO"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
audiences = ["todos"]
scopes = ["todos:read"]
"""


@pytest.mark.parametrize("form", [{}, {"audience": ""}, {"resource": ""}], ids=["absent", "audience=", "resource="])
def test_a_single_audience_client_must_still_name_it(
    make_client, make_settings, tmp_path, monkeypatch, password_token, exchange, oauth_error, form
):
    # An empty audience/resource is no audience; it must not fall back to the client's default one.
    monkeypatch.setenv("IDENTITY_CLIENT_SECRET_SOLO", "solo-secret")
    realm_file = tmp_path / "realm.toml"
    realm_file.write_text(SINGLE_AUDIENCE_REALM)
    with make_client(make_settings(realm_file=realm_file)) as client:
        subject = password_token(client, "alice")
        response = exchange(client, subject, auth=("solo", "solo-secret"), **form)

    oauth_error(response, "invalid_request")


class TestCounting:
    def test_every_exchange_is_counted(self, client, alice_token, exchange, exchanges_issued, basic):
        for scope in ("todos:read", "todos:share", "todos:read todos:share"):
            assert exchange(client, alice_token, audience="todos", scope=scope).status_code == 200

        stats = client.get("/admin/stats", auth=basic("identity-admin")).json()["data"]

        assert {"client_id": "shares", "grant_type": GRANT, "count": 3} in stats
        assert exchanges_issued(client) == 3

    def test_a_refusal_after_successes_adds_nothing(self, client, alice_token, exchange, exchanges_issued, refused):
        assert exchange(client, alice_token, audience="todos").status_code == 200

        refused(client, "invalid_scope", alice_token, audience="todos", scope="todos:write")

        assert exchanges_issued(client) == 1

    def test_counted_apart_from_the_clients_own_tokens(self, client, alice_token, exchange, cc_token, basic):
        cc_token(client, "shares")
        exchange(client, alice_token, audience="todos")

        stats = client.get("/admin/stats", auth=basic("identity-admin")).json()["data"]

        assert {"client_id": "shares", "grant_type": "client_credentials", "count": 1} in stats
        assert {"client_id": "shares", "grant_type": GRANT, "count": 1} in stats


class TestDiscovery:
    @pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
    def test_the_grant_is_listed(self, client, path):
        body = client.get(path).json()

        assert GRANT in body["grant_types_supported"]
        assert "act" in body["claims_supported"]

    def test_listed_without_the_password_grant(self, make_client, make_settings):
        with make_client(make_settings(allow_password_grant=False)) as client:
            grants = client.get("/.well-known/openid-configuration").json()["grant_types_supported"]

        assert GRANT in grants
        assert "password" not in grants

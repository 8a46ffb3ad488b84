"""Signing in and out: the code flow with PKCE, state and nonce, the ID token checked, the session cookie."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from authz.pytest_plugin import ISSUER
from web.models import WebSession

from .conftest import PUBLIC_URL, csrf_of


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


class TestLogin:
    def test_sends_the_browser_to_identity_with_pkce_state_and_nonce(self, client):
        answer = client.get("/auth/login")

        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith(f"{ISSUER}/authorize?")
        query = _query(location)
        assert query["client_id"] == "web"
        assert query["redirect_uri"] == f"{PUBLIC_URL}/auth/callback"
        assert query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43  # base64url of a SHA-256, unpadded
        assert len(query["state"]) >= 32
        assert len(query["nonce"]) >= 32
        assert "code_verifier" not in query  # the verifier stays here

    def test_the_pre_sign_in_cookie_is_httponly_and_lax(self, client):
        cookie = client.get("/auth/login").headers["set-cookie"]

        assert cookie.startswith("web_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie  # plain-HTTP development (WEB_PUBLIC_URL http://)


class TestCallback:
    def test_signs_in_with_a_new_session_and_no_token_in_the_answer(self, client, signed_in, identity):
        first = client.get("/auth/login").headers["set-cookie"].split(";")[0]
        answer = client.get(
            identity.authorize(client.get("/auth/login").headers["location"], "alice")[len(PUBLIC_URL) :]
        )

        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        after = answer.headers["set-cookie"].split(";")[0]
        assert after != first  # a new session id at sign-in (session fixation)
        page = client.get("/")
        assert "Signed in as <strong>alice</strong>" in page.text
        for response in (answer, page):
            text = response.text + str(response.headers)
            assert not any(token in text for token in identity.access_tokens)
            assert not any(token in text for token in identity.refresh_tokens)
            assert "eyJ" not in text

    def test_the_admin_role_comes_from_the_api(self, client, signed_in):
        signed_in(client, "carol")

        assert '<a href="/audit">Audit</a>' in client.get("/").text

    def test_a_foreign_state_is_refused(self, client, identity):
        location = client.get("/auth/login").headers["location"]
        callback = identity.authorize(location, "alice").replace("state=", "state=x")

        answer = client.get(callback[len(PUBLIC_URL) :])

        assert answer.status_code == 400
        assert "does not belong to this sign-in" in answer.text

    def test_a_callback_without_a_started_sign_in_is_refused(self, client):
        answer = client.get("/auth/callback?code=abc&state=def")

        assert answer.status_code == 400

    def test_another_issuer_is_refused(self, client, identity):
        callback = identity.authorize(client.get("/auth/login").headers["location"], "alice")

        answer = client.get(callback[len(PUBLIC_URL) :].replace("iss=", "iss=http%3A%2F%2Fevil.test%3F"))

        assert answer.status_code == 400
        assert "another server" in answer.text

    @pytest.mark.parametrize(
        ("claims", "why"),
        [
            ({"nonce": "another"}, "another sign-in"),
            ({"aud": "todo-cli"}, "InvalidAudienceError"),
            ({"iss": "http://evil.test"}, "InvalidIssuerError"),
            ({"exp": 1}, "ExpiredSignatureError"),
        ],
    )
    def test_an_id_token_that_is_not_for_this_sign_in_is_refused(self, client, identity, claims, why):
        identity.id_token_claims = claims
        callback = identity.authorize(client.get("/auth/login").headers["location"], "alice")

        answer = client.get(callback[len(PUBLIC_URL) :])

        assert answer.status_code == 400
        assert why in answer.text
        assert client.get("/").text.count("Sign in with identity") == 1  # not signed in

    def test_an_id_token_signed_by_another_key_is_refused(self, client, identity, issuer):
        from authz.testing import FakeIssuer

        identity.issuer = FakeIssuer(ISSUER)  # same issuer name, a key identity's JWKS does not hold
        identity.issuer.jwks = issuer.jwks  # type: ignore[method-assign]
        callback = identity.authorize(client.get("/auth/login").headers["location"], "alice")

        answer = client.get(callback[len(PUBLIC_URL) :])

        assert answer.status_code == 400
        assert "key identity does not publish" in answer.text

    def test_a_code_is_tried_once(self, client, identity):
        callback = identity.authorize(client.get("/auth/login").headers["location"], "alice")[len(PUBLIC_URL) :]
        assert client.get(callback).status_code == 303

        replayed = client.get(callback)

        assert replayed.status_code == 400  # the pending sign-in was spent with the first answer
        assert identity.codes == {}
        assert "Signed in as" in client.get("/").text


class TestLogout:
    def test_ends_the_session_here_and_at_identity_with_the_id_token_sent_server_side(
        self, client, signed_in, identity, app
    ):
        signed_in(client, "alice")
        csrf = csrf_of(client.get("/").text)

        answer = client.post("/auth/logout", data={"csrf_token": csrf})

        assert answer.status_code == 303
        assert answer.headers["location"] == "/?signed_out=1"
        assert "eyJ" not in answer.headers["location"]
        assert 'web_session=""' in answer.headers["set-cookie"]
        assert "Max-Age=0" in answer.headers["set-cookie"]
        assert len(identity.logouts) == 1
        assert identity.logouts[0].startswith("eyJ")
        assert "You are signed out." in client.get("/?signed_out=1").text
        assert "Sign in with identity" in client.get("/").text

    def test_without_the_csrf_token_nothing_happens(self, client, signed_in, identity):
        signed_in(client, "alice")

        answer = client.post("/auth/logout", data={})

        assert answer.status_code == 403
        assert identity.logouts == []
        assert "Signed in as" in client.get("/").text


def test_https_gets_secure_host_prefixed_cookies(settings, identity, gateway, tmp_path):
    import httpx
    from fastapi.testclient import TestClient

    from web.app import create_app

    secure = settings.model_copy(update={"public_url": "https://web.test"})
    app = create_app(secure, transport=httpx.MockTransport(identity.handle))
    with TestClient(app, base_url="https://web.test", follow_redirects=False) as client:
        cookie = client.get("/auth/login").headers["set-cookie"]

    assert cookie.startswith("__Host-web_session=")
    assert "Secure" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie


def test_the_session_store_keeps_a_hash_of_the_cookie(client, signed_in, settings):
    from sqlmodel import Session, create_engine, select

    from web.sessions import key_of

    cookie = signed_in(client, "alice").headers["set-cookie"].split(";")[0].split("=", 1)[1]

    engine = create_engine(settings.database_url)
    with Session(engine) as session:
        rows = session.exec(select(WebSession)).all()
    engine.dispose()
    assert [row.id for row in rows] == [key_of(cookie)]
    assert rows[0].access_token
    assert rows[0].refresh_token
    assert rows[0].id_token

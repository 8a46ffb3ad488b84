"""Signing in as a person, over real HTTP against the real identity: an independent relying party (Authlib's
OAuth 2.0 client, joserfc for the ID token) and the CLI's loopback sign-in (`make login`).

The "browser" (infra/browser.py) posts the login form and follows the redirect to the relying party's
callback, which listens on this run's web port: the URI devstack wrote into the realm.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

import devstack.login
from tests.e2e.infra.browser import Browser, query_of
from tests.e2e.infra.client import SuiteClient

SCOPE = "openid todos:read todos:write"


class Callback:
    """The relying party's redirect endpoint on this run's web port: records what the browser brings."""

    def __init__(self, port: int) -> None:
        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.received.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback(suite: SuiteClient) -> Iterator[Callback]:
    server = Callback(urlsplit(suite.web_url).port or 80)
    yield server
    server.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


def relying_party(suite: SuiteClient) -> OAuth2Client:
    return OAuth2Client(
        client_id="web",
        client_secret=suite.processes.secrets["web"],
        token_endpoint_auth_method="client_secret_basic",
        scope=SCOPE,
        redirect_uri=f"{suite.web_url}/auth/callback",
        code_challenge_method="S256",
        timeout=10,
    )


def validate_id_token(suite: SuiteClient, id_token: str, *, nonce: str) -> dict[str, Any]:
    """OIDC Core 3.1.3.7 with joserfc: the JWKS from discovery, the algorithm it advertises, the claims."""
    meta = suite.discovery()
    keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    token = jose_jwt.decode(id_token, keys, algorithms=meta["id_token_signing_alg_values_supported"])
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": "web"},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        auth_time={"essential": True},
        sid={"essential": True},
    ).validate(token.claims)
    return token.claims


def test_discovery_advertises_the_code_flow_with_s256(suite: SuiteClient) -> None:
    meta = suite.discovery()
    assert meta["authorization_endpoint"] == f"{suite.identity_url}/authorize"
    assert meta["end_session_endpoint"] == f"{suite.identity_url}/logout"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert meta["id_token_signing_alg_values_supported"]


def test_authlib_signs_alice_in_and_refreshes(suite: SuiteClient, browser: Browser, callback: Callback) -> None:
    meta = suite.discovery()
    with relying_party(suite) as rp:
        verifier, nonce = generate_token(48), generate_token(16)
        url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        location = browser.sign_in(url, "alice")
        landed = browser.http.get(location)  # the browser follows identity's redirect to the RP's callback
        assert landed.status_code == 200
        assert callback.received
        authorization_response = f"{suite.web_url}{callback.received[-1]}"
        assert query_of(authorization_response)["state"] == state
        token = rp.fetch_token(
            meta["token_endpoint"], authorization_response=authorization_response, code_verifier=verifier
        )
        claims = validate_id_token(suite, token["id_token"], nonce=nonce)
        assert claims["preferred_username"] == "alice"
        me = rp.get(meta["userinfo_endpoint"])  # Authlib sends the access token it holds
        assert me.status_code == 200
        assert me.json()["sub"] == claims["sub"]
        # The API takes the access token (through the gateway, as the web UI will call it).
        assert suite.gateway("GET", "/todos/whoami", token=token["access_token"]).status_code == 200

        first_refresh = token["refresh_token"]
        rotated = rp.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
        assert rotated["refresh_token"] != first_refresh
        assert rotated["access_token"] != token["access_token"]
        with pytest.raises(OAuthError) as reused:
            rp.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant"
        # Reuse ended the family: the token that replaced it is dead too.
        with pytest.raises(OAuthError):
            rp.refresh_token(meta["token_endpoint"], refresh_token=rotated["refresh_token"])


def test_a_second_client_signs_in_without_a_password_and_logout_ends_it(suite: SuiteClient, browser: Browser) -> None:
    meta = suite.discovery()
    with relying_party(suite) as rp:
        verifier, nonce = generate_token(48), generate_token(16)
        url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        token = rp.fetch_token(
            meta["token_endpoint"], authorization_response=browser.sign_in(url, "bob"), code_verifier=verifier
        )
        sid = validate_id_token(suite, token["id_token"], nonce=nonce)["sid"]

    # The CLI, in the same browser: identity's session answers at once, no form.
    def same_browser(authorization_url: str) -> None:
        answer = browser.open(authorization_url)
        assert answer.status_code == 302, answer.text
        browser.http.get(answer.headers["location"])  # to the CLI's loopback listener

    cli = devstack.login.sign_in(suite.identity_url, open_url=same_browser, timeout=10)
    assert cli["id_token_claims"]["sid"] == sid
    assert cli["id_token_claims"]["preferred_username"] == "bob"

    state = secrets.token_urlsafe(8)
    bye = browser.http.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": f"{suite.web_url}/", "state": state},
    )
    assert bye.status_code == 302
    assert bye.headers["location"] == f"{suite.web_url}/?state={state}"
    # The session is over: both clients' refresh tokens are dead, and the next sign-in shows the form.
    for client_id, refresh, auth in (
        ("web", token["refresh_token"], ("web", suite.processes.secrets["web"])),
        ("todo-cli", cli["refresh_token"], None),
    ):
        data = {"grant_type": "refresh_token", "refresh_token": refresh}
        answer = suite.http.post(
            meta["token_endpoint"], data=data | ({} if auth else {"client_id": client_id}), auth=auth
        )
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant"), client_id
    assert browser.open(url).status_code == 200


def test_cli_sign_in_on_a_loopback_port(suite: SuiteClient, browser: Browser) -> None:
    seen: list[str] = []

    def person_at_the_browser(authorization_url: str) -> None:
        seen.append(query_of(authorization_url)["redirect_uri"])
        browser.http.get(browser.sign_in(authorization_url, "carol"))

    tokens = devstack.login.sign_in(suite.identity_url, open_url=person_at_the_browser, timeout=10)
    assert tokens["id_token_claims"]["preferred_username"] == "carol"
    assert tokens["refresh_token"]
    port = urlsplit(seen[0]).port
    assert seen[0] == f"http://127.0.0.1:{port}/callback"  # a port the OS picked, accepted for todo-cli only
    assert suite.gateway("GET", "/todos/whoami", token=tokens["access_token"]).status_code == 200

"""Signing in in the browser: /authorize + the login page + /token (code, refresh) + /logout, against the app.

The browser is the TestClient (it keeps cookies); redirects are not followed, so each hop is checked.
The same flow over real HTTP, with an independent relying party (Authlib), is in tests/e2e/test_sign_in.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from identity import pages

WEB_CALLBACK = "http://127.0.0.1:8000/auth/callback"
WEB_HOME = "http://127.0.0.1:8000/"
CLI_CALLBACK = "http://127.0.0.1:53123/callback"


def skip_ahead(client: Any, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move identity's clock (the token service's and the sign-in store's) `seconds` ahead."""
    state = client.app_state
    later = state["tokens"].now() + seconds
    monkeypatch.setattr(state["tokens"], "_clock", lambda: later)
    monkeypatch.setattr(state["signin"], "now", lambda: later)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def auth_params(client_id: str = "web", redirect_uri: str = WEB_CALLBACK, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid todos:read",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge_method": "S256",
    } | overrides
    return {k: v for k, v in params.items() if v is not None}


def form_fields(html: str) -> dict[str, str]:
    return {
        unescape(n): unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    }


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Browser:
    """A user agent: asks /authorize, fills the login form, reads where it is sent."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def authorize(self, **params: str) -> Any:
        return self.client.get("/authorize", params=params, follow_redirects=False)

    def login(self, page: Any, username: str = "alice", password: str | None = None, **extra: str) -> Any:
        fields = form_fields(page.text) | {"username": username, "password": password or username} | extra
        return self.client.post("/login", data=fields, follow_redirects=False)

    def sign_in(self, username: str = "alice", **params: str) -> tuple[dict[str, str], str]:
        """The whole front channel: returns the callback's query and the PKCE verifier."""
        verifier, challenge = pkce()
        page = self.authorize(**(auth_params(code_challenge=challenge) | params))
        assert page.status_code == 200, page.text
        answer = self.login(page, username)
        assert answer.status_code == 303, answer.text
        return query(answer.headers["location"]), verifier


@pytest.fixture
def browser(client) -> Browser:
    return Browser(client)


@pytest.fixture
def redeem(client, basic) -> Callable[..., Any]:
    def post(code: str, verifier: str, *, client_id: str = "web", redirect_uri: str = WEB_CALLBACK, **form: str) -> Any:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        if client_id == "web":
            return client.post("/token", data=data | form, auth=basic("web"))
        return client.post("/token", data=data | {"client_id": client_id} | form)

    return post


@pytest.fixture
def refresh(client, basic) -> Callable[..., Any]:
    def post(token: str, **form: str) -> Any:
        return client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": token, **form}, auth=basic("web")
        )

    return post


def test_discovery_advertises_the_code_flow_with_s256(client) -> None:
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["authorization_endpoint"] == "http://identity.test/authorize"
    assert meta["end_session_endpoint"] == "http://identity.test/logout"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert "implicit" not in meta["grant_types_supported"]


class TestCodeFlow:
    def test_valid(self, client, browser, redeem, decode) -> None:
        callback, verifier = browser.sign_in(state="s-123", nonce="n-456")
        assert callback["state"] == "s-123"
        assert callback["iss"] == "http://identity.test"  # RFC 9207
        response = redeem(callback["code"], verifier)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        _, claims = decode(client, body["access_token"])
        assert claims["client_id"] == "web"
        assert claims["preferred_username"] == "alice"
        assert set(claims["scope"].split()) == {"openid", "todos:read"}
        assert "http://identity.test/userinfo" in claims["aud"]
        header, id_claims = decode(client, body["id_token"], audience="web")
        assert header["typ"] == "JWT"
        assert id_claims["aud"] == "web"
        assert id_claims["nonce"] == "n-456"
        assert id_claims["sub"] == claims["sub"]
        assert id_claims["sid"]
        assert id_claims["roles"] == claims["roles"]  # groups for a Kubernetes API server (docs/kubernetes-oidc.md)
        assert abs(id_claims["auth_time"] - id_claims["iat"]) < 5
        digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
        assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert body["refresh_token"]
        me = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json()["preferred_username"] == "alice"

    def test_without_openid_no_id_token(self, browser, redeem) -> None:
        callback, verifier = browser.sign_in(scope="todos:read")
        body = redeem(callback["code"], verifier).json()
        assert "id_token" not in body
        assert body["scope"] == "todos:read"

    def test_login_page_is_plain_and_accessible(self, browser) -> None:
        page = browser.authorize(**auth_params(code_challenge=pkce()[1]))
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "<script" not in html.lower()
        assert '<html lang="en">' in html
        for field in ("username", "password"):
            assert f'<label for="{field}">' in html
            assert f'id="{field}"' in html
        assert ":focus-visible" in html
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src" not in csp  # nothing may run
        assert page.headers["cache-control"] == "no-store"

    def test_wrong_password_shows_the_form_again(self, browser) -> None:
        page = browser.authorize(**auth_params(code_challenge=pkce()[1]))
        answer = browser.login(page, "alice", "wrong")
        assert answer.status_code == 401
        assert 'role="alert"' in answer.text
        assert "location" not in answer.headers

    def test_login_without_csrf_token_is_refused(self, client, browser) -> None:
        page = browser.authorize(**auth_params(code_challenge=pkce()[1]))
        fields = form_fields(page.text) | {"username": "alice", "password": "alice", "csrf_token": "forged"}
        answer = client.post("/login", data=fields, follow_redirects=False)
        assert answer.status_code == 403
        assert "location" not in answer.headers

    def test_login_from_a_browser_without_the_csrf_cookie_is_refused(self, make_client, settings) -> None:
        with make_client(settings) as first, make_client(settings) as other:
            page = Browser(first).authorize(**auth_params(code_challenge=pkce()[1]))
            answer = Browser(other).login(page)  # a cross-site post: the victim's browser lacks the cookie
            assert answer.status_code == 403

    def test_login_page_is_throttled(self, make_client, make_settings) -> None:
        settings = make_settings(login_throttle_user_free_failures=2, login_throttle_base_delay_seconds=60)
        with make_client(settings) as client:
            browser = Browser(client)
            page = browser.authorize(**auth_params(code_challenge=pkce()[1]))
            statuses = [browser.login(page, "alice", "guess").status_code for _ in range(2)]
            assert statuses == [401, 401]  # the free failures
            throttled = browser.login(page, "alice", "alice")  # even the right password waits now
            assert throttled.status_code == 429
            assert int(throttled.headers["retry-after"]) > 0
            assert 'role="alert"' in throttled.text
            assert "location" not in throttled.headers


class TestSession:
    def test_second_client_signs_in_without_a_password(self, browser, redeem, decode, client) -> None:
        first, verifier = browser.sign_in()
        first_id = decode(client, redeem(first["code"], verifier).json()["id_token"], audience="web")[1]
        verifier, challenge = pkce()
        answer = browser.authorize(**auth_params("todo-cli", CLI_CALLBACK, code_challenge=challenge))
        assert answer.status_code == 302, answer.text  # no form: straight back with a code
        callback = query(answer.headers["location"])
        assert answer.headers["location"].startswith(CLI_CALLBACK + "?")
        body = redeem(callback["code"], verifier, client_id="todo-cli", redirect_uri=CLI_CALLBACK).json()
        cli_id = decode(client, body["id_token"], audience="todo-cli")[1]
        assert cli_id["sid"] == first_id["sid"]
        assert cli_id["auth_time"] == first_id["auth_time"]

    def test_prompt_login_asks_again(self, browser) -> None:
        browser.sign_in()
        answer = browser.authorize(**auth_params(code_challenge=pkce()[1], prompt="login"))
        assert answer.status_code == 200
        assert 'name="password"' in answer.text

    def test_prompt_none_without_a_session(self, browser) -> None:
        answer = browser.authorize(**auth_params(code_challenge=pkce()[1], prompt="none", state="xyz"))
        assert answer.status_code == 302
        assert query(answer.headers["location"]) | {"error_description": ""} == {
            "error": "login_required", "error_description": "", "state": "xyz", "iss": "http://identity.test"
        }  # fmt: skip


class TestPkce:
    def test_missing_challenge(self, browser) -> None:
        answer = browser.authorize(**auth_params(state="s1"))
        assert answer.status_code == 302
        callback = query(answer.headers["location"])
        assert (callback["error"], callback["state"]) == ("invalid_request", "s1")
        assert "code" not in callback

    @pytest.mark.parametrize("method", ["plain", None])
    def test_plain_is_refused(self, browser, method) -> None:
        verifier = secrets.token_urlsafe(48)  # with plain, the challenge is the verifier itself
        answer = browser.authorize(**auth_params(code_challenge=verifier[:43], code_challenge_method=method))
        assert answer.status_code == 302
        assert query(answer.headers["location"])["error"] == "invalid_request"

    def test_wrong_verifier(self, browser, redeem, oauth_error) -> None:
        callback, _ = browser.sign_in()
        response = redeem(callback["code"], pkce()[0])
        assert response.status_code != 200, "identity redeemed the code without the right code_verifier"
        oauth_error(response, "invalid_grant")

    def test_missing_verifier(self, client, browser, basic, oauth_error) -> None:
        callback, _ = browser.sign_in()
        data = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": WEB_CALLBACK}
        oauth_error(client.post("/token", data=data, auth=basic("web")), "invalid_request")

    def test_a_failed_verifier_leaves_the_code_to_its_client(self, browser, redeem) -> None:
        callback, verifier = browser.sign_in()
        assert redeem(callback["code"], pkce()[0]).status_code == 400
        assert redeem(callback["code"], verifier).status_code == 200


class TestRedirectUri:
    @pytest.mark.parametrize(
        "uri",
        [
            "http://127.0.0.1:8001/auth/callback",  # other port
            "http://127.0.0.1:8000/auth/other",  # other path
            "http://127.0.0.1:8000/auth/callback/",  # trailing slash
            "http://127.0.0.1:8000/auth/callback?next=x",  # added query
            "http://localhost:8000/auth/callback",  # other host name for the same place
            "https://evil.example/auth/callback",
            "",
        ],
    )
    def test_mismatch_is_shown_never_redirected(self, browser, uri) -> None:
        answer = browser.authorize(**auth_params(redirect_uri=uri, code_challenge=pkce()[1]))
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert answer.headers["content-type"].startswith("text/html")

    def test_unknown_client_is_shown_never_redirected(self, browser) -> None:
        answer = browser.authorize(**auth_params(client_id="nobody", code_challenge=pkce()[1]))
        assert answer.status_code == 400
        assert "location" not in answer.headers

    @pytest.mark.parametrize("port", [1024, 53123, 65535])
    def test_native_client_any_loopback_port(self, browser, port) -> None:
        uri = f"http://127.0.0.1:{port}/callback"
        answer = browser.authorize(**auth_params("todo-cli", uri, code_challenge=pkce()[1]))
        assert answer.status_code == 200  # the login form, for that URI

    @pytest.mark.parametrize(
        "uri",
        [
            "http://127.0.0.1:53123/other",
            "http://127.0.0.1:53123/callback/",
            "http://localhost:53123/callback",
            "https://127.0.0.1:53123/callback",
            "http://evil@127.0.0.1:53123/callback",
            "http://127.0.0.1.evil.example:53123/callback",
            "http://127.0.0.1:53123/callback#frag",
        ],
    )
    def test_native_client_only_loopback(self, browser, uri) -> None:
        answer = browser.authorize(**auth_params("todo-cli", uri, code_challenge=pkce()[1]))
        assert answer.status_code == 400
        assert "location" not in answer.headers

    def test_web_gets_no_any_port(self, browser) -> None:
        answer = browser.authorize(**auth_params(redirect_uri="http://127.0.0.1:53123/auth/callback"))
        assert answer.status_code == 400

    def test_token_request_must_repeat_the_same_uri(self, browser, redeem, oauth_error) -> None:
        callback, verifier = browser.sign_in()
        oauth_error(redeem(callback["code"], verifier, redirect_uri=WEB_CALLBACK + "/"), "invalid_grant")


class TestCode:
    def test_replay_fails_and_revokes(self, client, browser, redeem, refresh, introspect, oauth_error) -> None:
        callback, verifier = browser.sign_in()
        first = redeem(callback["code"], verifier).json()
        assert introspect(client, first["access_token"])["active"] is True
        oauth_error(redeem(callback["code"], verifier), "invalid_grant")
        assert introspect(client, first["access_token"]) == {"active": False}
        oauth_error(refresh(first["refresh_token"]), "invalid_grant")

    def test_bound_to_its_client(self, browser, redeem, oauth_error) -> None:
        verifier, challenge = pkce()
        page = browser.authorize(**auth_params("todo-cli", CLI_CALLBACK, code_challenge=challenge))
        callback = query(browser.login(page).headers["location"])
        # The web client presents the CLI's code (code injection): refused, and the CLI can still use it.
        oauth_error(redeem(callback["code"], verifier, redirect_uri=CLI_CALLBACK), "invalid_grant")
        ok = redeem(callback["code"], verifier, client_id="todo-cli", redirect_uri=CLI_CALLBACK)
        assert ok.status_code == 200

    def test_unknown_code(self, redeem, oauth_error) -> None:
        oauth_error(redeem("made-up", pkce()[0]), "invalid_grant")

    def test_expired_code(self, client, browser, redeem, oauth_error, monkeypatch) -> None:
        callback, verifier = browser.sign_in()
        skip_ahead(client, monkeypatch, 61)
        oauth_error(redeem(callback["code"], verifier), "invalid_grant")


class TestRefresh:
    def test_rotation_and_reuse(self, client, browser, redeem, refresh, introspect, oauth_error) -> None:
        callback, verifier = browser.sign_in()
        first = redeem(callback["code"], verifier).json()
        second = refresh(first["refresh_token"])
        assert second.status_code == 200, second.text
        second = second.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        third = refresh(second["refresh_token"]).json()
        # The spent first token comes back (stolen, or a confused client): the whole family ends.
        body = oauth_error(refresh(first["refresh_token"]), "invalid_grant")
        assert "family" in body["error_description"]
        oauth_error(refresh(third["refresh_token"]), "invalid_grant")
        for issued in (first, second, third):
            assert introspect(client, issued["access_token"]) == {"active": False}

    def test_refresh_may_narrow_not_widen(self, browser, redeem, refresh, oauth_error) -> None:
        callback, verifier = browser.sign_in(scope="openid todos:read todos:write")
        first = redeem(callback["code"], verifier).json()
        narrowed = refresh(first["refresh_token"], scope="todos:read")
        assert narrowed.json()["scope"] == "todos:read"
        oauth_error(refresh(narrowed.json()["refresh_token"], scope="todos:read shares:read"), "invalid_scope")

    def test_bound_to_its_client(self, client, browser, redeem, oauth_error) -> None:
        callback, verifier = browser.sign_in()
        token = redeem(callback["code"], verifier).json()["refresh_token"]
        answer = client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "todo-cli"}
        )
        oauth_error(answer, "invalid_grant")

    def test_revoked_by_rfc7009(self, client, basic, browser, redeem, refresh, introspect, oauth_error) -> None:
        callback, verifier = browser.sign_in()
        body = redeem(callback["code"], verifier).json()
        other = client.post("/revoke", data={"token": body["refresh_token"], "client_id": "todo-cli"})
        oauth_error(other, "invalid_request")  # not the CLI's token: refused, stays active
        assert client.post("/revoke", data={"token": body["refresh_token"]}, auth=basic("web")).status_code == 200
        oauth_error(refresh(body["refresh_token"]), "invalid_grant")
        assert introspect(client, body["access_token"]) == {"active": False}

    def test_ends_with_the_session(self, make_client, make_settings, redeem, oauth_error, monkeypatch) -> None:
        with make_client(make_settings(session_lifetime_seconds=60)) as client:
            callback, verifier = Browser(client).sign_in()
            data = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": WEB_CALLBACK,
                    "code_verifier": verifier}  # fmt: skip
            secret = client.app_state["realm"].clients["web"].secret
            body = client.post("/token", data=data, auth=("web", secret)).json()
            skip_ahead(client, monkeypatch, 61)
            answer = client.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                auth=("web", secret),
            )  # fmt: skip
            oauth_error(answer, "invalid_grant")


class TestLogout:
    def _signed_in(self, browser, redeem) -> dict[str, Any]:
        callback, verifier = browser.sign_in()
        return redeem(callback["code"], verifier).json()

    def test_with_id_token_hint(self, client, browser, redeem, refresh, oauth_error) -> None:
        body = self._signed_in(browser, redeem)
        answer = client.get(
            "/logout",
            params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": WEB_HOME, "state": "bye"},
            follow_redirects=False,
        )
        assert answer.status_code == 302
        assert answer.headers["location"] == WEB_HOME + "?state=bye"
        # identity's session is over: the next sign-in asks for the password, the refresh token is dead.
        again = browser.authorize(**auth_params(code_challenge=pkce()[1]))
        assert again.status_code == 200
        assert 'name="password"' in again.text
        oauth_error(refresh(body["refresh_token"]), "invalid_grant")

    @pytest.mark.parametrize("uri", ["http://127.0.0.1:8000", "http://127.0.0.1:8000/?x=1", "https://evil.example/"])
    def test_post_logout_uri_must_match_exactly(self, client, browser, redeem, uri) -> None:
        body = self._signed_in(browser, redeem)
        answer = client.get(
            "/logout",
            params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": uri},
            follow_redirects=False,
        )
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert browser.authorize(**auth_params(code_challenge=pkce()[1])).status_code == 302  # still signed in

    def test_without_hint_asks_first(self, client, browser, redeem) -> None:
        self._signed_in(browser, redeem)
        page = client.get("/logout", params={"client_id": "web", "post_logout_redirect_uri": WEB_HOME})
        assert page.status_code == 200
        assert "Sign out" in page.text
        assert browser.authorize(**auth_params(code_challenge=pkce()[1])).status_code == 302  # not yet
        forged = client.post("/logout", data=form_fields(page.text) | {"csrf_token": "x"}, follow_redirects=False)
        assert forged.status_code == 403
        answer = client.post("/logout", data=form_fields(page.text), follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == WEB_HOME
        assert browser.authorize(**auth_params(code_challenge=pkce()[1])).status_code == 200  # the form again

    def test_forged_hint(self, client) -> None:
        answer = client.get("/logout", params={"id_token_hint": "a.b.c", "post_logout_redirect_uri": WEB_HOME})
        assert answer.status_code == 400


class TestBadInput:
    def test_parameter_twice_is_shown_never_redirected(self, client) -> None:
        params = [*auth_params(code_challenge=pkce()[1]).items(), ("redirect_uri", "https://evil.example/")]
        answer = client.get("/authorize", params=params, follow_redirects=False)
        assert answer.status_code == 400
        assert "location" not in answer.headers

    @pytest.mark.parametrize("field", ["nonce", "state"])
    def test_oversized_nonce_or_state(self, browser, field) -> None:
        answer = browser.authorize(**auth_params(code_challenge=pkce()[1]) | {field: "x" * 1001})
        assert answer.status_code == 302
        assert query(answer.headers["location"])["error"] == "invalid_request"

    def test_unsupported_response_type(self, browser) -> None:
        answer = browser.authorize(**auth_params(code_challenge=pkce()[1], response_type="token"))
        assert query(answer.headers["location"])["error"] == "unsupported_response_type"

    def test_client_without_the_code_flow(self, client) -> None:
        # reminders has no redirect URI at all: nothing may be redirected to.
        answer = client.get(
            "/authorize", params=auth_params("reminders", code_challenge=pkce()[1]), follow_redirects=False
        )
        assert answer.status_code == 400

    def test_scope_beyond_the_client(self, browser) -> None:
        answer = browser.authorize(**auth_params(code_challenge=pkce()[1], scope="openid users:read"))
        assert query(answer.headers["location"])["error"] == "invalid_scope"


def _luminance(hex_colour: str) -> float:
    """WCAG 2.2 relative luminance."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(pair: tuple[str, str]) -> float:
    high, low = sorted((_luminance(pair[0]) + 0.05, _luminance(pair[1]) + 0.05), reverse=True)
    return high / low


@pytest.mark.parametrize(
    ("name", "minimum"),
    [("TEXT", 4.5), ("HINT", 4.5), ("BUTTON", 4.5), ("ERROR", 4.5), ("FOCUS_RING", 3.0), ("FIELD_BORDER", 3.0)],
)
def test_login_page_colours_meet_wcag_aa(name: str, minimum: float) -> None:
    pair = getattr(pages, name)
    assert _contrast(pair) >= minimum, (name, round(_contrast(pair), 2))
    assert pair[0] in pages._STYLE  # the colour is the one the page uses


class TestClientUris:
    def test_the_runs_uris_replace_the_realms(self, make_client, make_settings) -> None:
        run = "http://127.0.0.1:18123/auth/callback"
        settings = make_settings(client_uris={"web": {"redirect_uris": [run], "post_logout_redirect_uris": []}})
        with make_client(settings) as client:
            browser = Browser(client)
            assert browser.authorize(**auth_params(redirect_uri=run, code_challenge=pkce()[1])).status_code == 200
            assert browser.authorize(**auth_params(code_challenge=pkce()[1])).status_code == 400  # the default is gone

    @pytest.mark.parametrize(
        "uris",
        [{"nobody": {"redirect_uris": []}}, {"web": {"redirect_uri": ["http://127.0.0.1:1/"]}}],
    )
    def test_a_typo_stops_start_up(self, make_client, make_settings, uris) -> None:
        with pytest.raises(ValueError, match="IDENTITY_CLIENT_URIS"), make_client(make_settings(client_uris=uris)):
            pass

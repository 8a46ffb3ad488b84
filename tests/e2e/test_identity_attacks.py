"""Attacks on signing in, against the real identity over HTTP (mode-independent, so not in infra/matrix.py).

Each test is one attack from RFC 9700 (OAuth 2.0 Security BCP) and what identity answers: open redirect
through `redirect_uri` or `post_logout_redirect_uri`, authorization code injection, PKCE downgrade, code
replay, refresh token replay, login CSRF and password guessing at the login page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from tests.e2e.infra.browser import Browser, pkce_pair, query_of
from tests.e2e.infra.client import SuiteClient

EVIL = "https://evil.example/steal"


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


def authorization_url(suite: SuiteClient, challenge: str | None, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": f"{suite.web_url}/auth/callback",
        "scope": "openid todos:read",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | overrides
    return f"{suite.identity_url}/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def redeem(suite: SuiteClient, code: str, verifier: str | None, **form: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": f"{suite.web_url}/auth/callback"}
    if verifier is not None:
        data["code_verifier"] = verifier
    return suite.http.post(
        f"{suite.identity_url}/token", data=data | form, auth=("web", suite.processes.secrets["web"])
    )


def active(suite: SuiteClient, token: str) -> bool:
    answer = suite.http.post(
        f"{suite.identity_url}/introspect", data={"token": token}, auth=("gateway", suite.processes.secrets["gateway"])
    )
    return bool(answer.json()["active"])


def alices_code(suite: SuiteClient, browser: Browser) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    location = browser.sign_in(authorization_url(suite, challenge), "alice")
    return query_of(location)["code"], verifier


@pytest.mark.parametrize(
    ("client_id", "redirect_uri"),
    [
        ("web", EVIL),
        ("web", "{web}/auth/callback.evil.example"),
        ("web", "{web}/auth/callback/../../steal"),
        ("todo-cli", EVIL),
        ("todo-cli", "http://localhost:4444/callback"),  # loopback by name: DNS could answer anything
    ],
)
def test_open_redirect_through_redirect_uri(
    suite: SuiteClient, browser: Browser, client_id: str, redirect_uri: str
) -> None:
    uri = redirect_uri.format(web=suite.web_url)
    answer = browser.open(authorization_url(suite, pkce_pair()[1], client_id=client_id, redirect_uri=uri))
    assert answer.status_code == 400
    assert "location" not in answer.headers  # shown to the user, never a redirect


def test_open_redirect_through_post_logout_redirect_uri(suite: SuiteClient, browser: Browser) -> None:
    answer = browser.http.get(
        f"{suite.identity_url}/logout", params={"client_id": "web", "post_logout_redirect_uri": EVIL}
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers


def test_code_injection_is_stopped_by_pkce(suite: SuiteClient, browser: Browser) -> None:
    """An attacker with alice's stolen code plays it into the client in their own session: the client
    sends the attacker's session's verifier, which does not match alice's challenge."""
    code, alices_verifier = alices_code(suite, browser)
    attackers_verifier, _ = pkce_pair()
    answer = redeem(suite, code, attackers_verifier)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    # Redeemed by another client with the right verifier: refused as well (codes are bound to their client).
    other = suite.http.post(
        f"{suite.identity_url}/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": "todo-cli",
              "redirect_uri": f"{suite.web_url}/auth/callback", "code_verifier": alices_verifier},
    )  # fmt: skip
    assert (other.status_code, other.json()["error"]) == (400, "invalid_grant")
    assert redeem(suite, code, alices_verifier).status_code == 200  # the real client still can


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_downgrade_at_authorize(suite: SuiteClient, browser: Browser, method: str | None) -> None:
    verifier = secrets.token_urlsafe(48)
    answer = browser.open(authorization_url(suite, verifier[:43], code_challenge_method=method))
    assert answer.status_code == 302
    callback = query_of(answer.headers["location"])
    assert callback["error"] == "invalid_request"
    assert "code" not in callback


def test_pkce_downgrade_at_token(suite: SuiteClient, browser: Browser) -> None:
    code, verifier = alices_code(suite, browser)
    without = redeem(suite, code, None)
    assert (without.status_code, without.json()["error"]) == (400, "invalid_request")
    # The challenge (seen in the authorization URL, a log, a Referer) sent back as if it were a plain verifier.
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    as_plain = redeem(suite, code, challenge)
    assert (as_plain.status_code, as_plain.json()["error"]) == (400, "invalid_grant")


def test_code_replay_fails_and_revokes(suite: SuiteClient, browser: Browser) -> None:
    code, verifier = alices_code(suite, browser)
    first = redeem(suite, code, verifier).json()
    assert active(suite, first["access_token"])
    replay = redeem(suite, code, verifier)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert not active(suite, first["access_token"])
    refreshed = suite.http.post(
        f"{suite.identity_url}/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=("web", suite.processes.secrets["web"]),
    )
    assert refreshed.status_code == 400
    # The revoked access token is dead wherever identity is asked (introspection, the phantom mode); a
    # self-contained JWT verified locally lives to its `exp` (the matrix's revoked-edge-token row).


def test_refresh_token_replay_revokes_the_family(suite: SuiteClient, browser: Browser) -> None:
    code, verifier = alices_code(suite, browser)
    first = redeem(suite, code, verifier).json()
    web = ("web", suite.processes.secrets["web"])

    def refresh(token: str) -> httpx.Response:
        return suite.http.post(
            f"{suite.identity_url}/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=web
        )

    legit = refresh(first["refresh_token"]).json()
    stolen = refresh(first["refresh_token"])  # an attacker replays the copy it stole
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_grant")
    assert refresh(legit["refresh_token"]).status_code == 400
    assert not active(suite, legit["access_token"])


def test_login_csrf(suite: SuiteClient, browser: Browser) -> None:
    """Another site posts the login form (with the attacker's credentials) in the victim's browser: the
    victim's browser has no CSRF cookie of that form, so identity refuses."""
    page = browser.open(authorization_url(suite, pkce_pair()[1]))
    victim = Browser()
    try:
        answer = victim.submit_login(page, "bob", "bob")
        assert answer.status_code == 403
        assert "identity_session" not in answer.cookies
    finally:
        victim.close()


def test_password_guessing_at_the_login_page_is_throttled(suite: SuiteClient, browser: Browser) -> None:
    page = browser.open(authorization_url(suite, pkce_pair()[1]))
    target = "nobody-" + secrets.token_hex(4)  # unknown names are throttled alike; no demo user is locked out
    statuses = [browser.submit_login(page, target, "guess").status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5  # the free failures (IDENTITY_LOGIN_THROTTLE_USER_FREE_FAILURES)
    assert 429 in statuses[5:]
    throttled = browser.submit_login(page, target, "guess")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1

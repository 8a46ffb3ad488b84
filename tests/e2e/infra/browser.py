"""A user agent for the login page: keeps identity's cookies, fills the form like a person, reads the redirects.

It never follows a redirect to a client: the test decides what the client does with the answer.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    """One browser profile (its own cookie jar) talking to identity over real HTTP."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=10, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def open(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def submit_login(self, page: httpx.Response, username: str, password: str) -> httpx.Response:
        """Post the login form on `page` as a person would: its hidden fields, the typed credentials."""
        action = str(page.url.copy_with(path="/login", query=None))
        fields = {unescape(n): unescape(v) for n, v in _HIDDEN.findall(page.text)}
        return self.http.post(action, data=fields | {"username": username, "password": password})

    def sign_in(self, authorization_url: str, username: str, password: str | None = None) -> str:
        """From the authorization URL to the client's redirect URI with the code: the Location identity sends."""
        page = self.open(authorization_url)
        if page.status_code == 302:  # already signed in at identity
            return page.headers["location"]
        assert page.status_code == 200, page.text
        answer = self.submit_login(page, username, password or username)
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

"""`make login` / `python -m devstack.login`: sign in as a person, the way a native app does (RFC 8252).

The CLI is `todo-cli`, a public client: it has no secret to keep, so PKCE (S256) is what ties the code to
this process. It listens on a loopback port the OS picks (`http://127.0.0.1:<port>/callback`; identity
accepts any port there for this one client, RFC 8252 section 7.3), opens the browser at identity's login
page (or prints the URL), receives the code, redeems it, checks the ID token against identity's JWKS, and
prints the tokens as JSON on stdout. Nothing is written to disk: pipe it where you want it, e.g.

    TOKEN=$(make -s login | jq -r .access_token)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

CLIENT_ID = "todo-cli"
DEFAULT_SCOPE = "openid todos:read todos:write todos:share shares:read shares:write reminders:read"
_DONE_PAGE = (
    b'<!doctype html><html lang="en"><meta charset="utf-8"><title>Signed in</title>'
    b"<p>You can close this window and go back to the terminal.</p></html>"
)


class SignInFailed(Exception):
    """The sign-in did not complete: the message says which step refused."""


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # RFC 7636 section 4.1: 43-128 characters of high entropy
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


class _Callback:
    """A one-shot HTTP server on 127.0.0.1 that waits for the redirect with the code."""

    def __init__(self) -> None:
        self.params: dict[str, str] | None = None
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback" or outer.arrived.is_set():
                    self.send_error(404)
                    return
                outer.params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(_DONE_PAGE)
                outer.arrived.set()

            def log_message(self, format: str, *args: Any) -> None:  # keep stdout for the tokens
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"

    def __enter__(self) -> _Callback:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def sign_in(
    issuer: str,
    *,
    scope: str = DEFAULT_SCOPE,
    open_url: Callable[[str], object] = webbrowser.open,
    timeout: float = 300.0,
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """The code flow with PKCE for todo-cli; returns the token response (with the verified ID token claims
    under `id_token_claims`). `open_url` shows the authorization URL to the user (a browser, a print)."""
    with contextlib.nullcontext(http) if http else httpx.Client(timeout=10) as client:
        meta = client.get(issuer.rstrip("/") + "/.well-known/openid-configuration").raise_for_status().json()
        if meta["issuer"] != issuer:
            raise SignInFailed(f"discovery names issuer {meta['issuer']!r}, not {issuer!r}")
        if "S256" not in meta.get("code_challenge_methods_supported", []):
            raise SignInFailed("identity does not offer PKCE with S256")
        pkce, state, nonce = Pkce.new(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        with _Callback() as callback:
            query = {
                "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": callback.redirect_uri,
                "scope": scope, "state": state, "nonce": nonce,
                "code_challenge": pkce.challenge, "code_challenge_method": "S256",
            }  # fmt: skip
            url = meta["authorization_endpoint"] + "?" + urlencode(query)
            print(f"Sign in at:\n\n  {url}\n", file=sys.stderr)
            open_url(url)
            if not callback.arrived.wait(timeout):
                raise SignInFailed(f"no sign-in within {timeout:.0f} s")
            answer = callback.params or {}
        # The state ties the answer to this request (RFC 6749 section 10.12); `iss` to this server (RFC 9207).
        if not secrets.compare_digest(answer.get("state", ""), state):
            raise SignInFailed("the answer's state does not match this sign-in")
        if answer.get("iss", issuer) != issuer:
            raise SignInFailed(f"the answer comes from another issuer: {answer['iss']!r}")
        if "error" in answer:
            raise SignInFailed(f"identity refused: {answer['error']}: {answer.get('error_description', '')}")
        response = client.post(
            meta["token_endpoint"],
            data={"grant_type": "authorization_code", "code": answer.get("code", ""), "client_id": CLIENT_ID,
                  "redirect_uri": callback.redirect_uri, "code_verifier": pkce.verifier},
        )  # fmt: skip
        if response.status_code != 200:
            raise SignInFailed(f"the token endpoint refused: {response.text}")
        tokens = response.json()
        jwks = jwt.PyJWKSet.from_dict(client.get(meta["jwks_uri"]).raise_for_status().json())
    tokens["id_token_claims"] = verify_id_token(tokens["id_token"], jwks, issuer=issuer, nonce=nonce)
    return tokens


def verify_id_token(id_token: str, jwks: jwt.PyJWKSet, *, issuer: str, nonce: str) -> dict[str, Any]:
    """OIDC Core 3.1.3.7: signed by the issuer's key, `iss`, `aud` = this client, unexpired, our `nonce`."""
    try:
        key = jwks[jwt.get_unverified_header(id_token)["kid"]]
        claims = jwt.decode(
            id_token, key, algorithms=["ES256", "RS256"], audience=CLIENT_ID, issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "nonce"]},
        )  # fmt: skip
    except (jwt.PyJWTError, KeyError) as error:
        raise SignInFailed(f"the ID token is not valid: {error}") from None
    if not secrets.compare_digest(claims["nonce"], nonce):
        raise SignInFailed("the ID token's nonce is not this sign-in's")
    return claims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.login", description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", default="http://127.0.0.1:9000", help="identity's issuer URL")
    parser.add_argument("--scope", default=DEFAULT_SCOPE)
    parser.add_argument("--no-browser", action="store_true", help="only print the URL to open")
    args = parser.parse_args(argv)
    opener: Callable[[str], object] = (lambda url: None) if args.no_browser else webbrowser.open
    try:
        tokens = sign_in(args.issuer, scope=args.scope, open_url=opener)
    except (SignInFailed, httpx.HTTPError) as error:
        print(f"sign-in failed: {error}", file=sys.stderr)
        return 1
    print(f"signed in as {tokens['id_token_claims'].get('preferred_username')}", file=sys.stderr)
    json.dump(tokens, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

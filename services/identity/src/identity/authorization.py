"""The authorization request (RFC 6749 section 4.1.1 with PKCE, RFC 7636, and OIDC): parse it, or refuse it.

Two kinds of refusal, as RFC 6749 section 4.1.2.1 says: while the client or its redirect URI is in doubt,
identity shows the error itself and never redirects (else /authorize would be an open redirector); once
both are known good, errors go back to the client at its redirect URI, with its `state`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from identity.realm import GRANT_AUTHORIZATION_CODE, Client, Realm

OPENID = "openid"
S256 = "S256"
#: RFC 7636 section 4.2: BASE64URL(SHA256(verifier)) is 43 characters; section 4.1: the verifier 43-128.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
#: The authorization request's parameters this server reads (and carries through the login form).
PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "prompt",
)  # fmt: skip
_LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
#: Bounds on what the client sends back and forth through the browser (a URL must stay a URL).
MAX_STATE = 1000
MAX_NONCE = 255


class UnsafeRedirect(Exception):
    """The client or redirect URI is unknown or does not match: shown to the user, never redirected."""


class RedirectError(Exception):
    """An error for a known client at its registered redirect URI (RFC 6749 section 4.1.2.1)."""

    def __init__(self, error: str, description: str, request: AuthorizationRequest) -> None:
        super().__init__(description)
        self.error, self.description, self.request = error, description, request


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: str | None

    def carried(self) -> dict[str, str]:
        """The parameters the login form posts back, so that /login sees the same request again."""
        fields = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "code_challenge": self.code_challenge,
            "code_challenge_method": S256,
        }
        fields |= {k: v for k, v in (("state", self.state), ("nonce", self.nonce)) if v is not None}
        return fields

    def redirect(self, issuer: str, **params: str) -> str:
        """The redirect URI with `params`, `state` and `iss` (RFC 9207: which server answered, against mix-up)."""
        query = {**params, **({"state": self.state} if self.state is not None else {}), "iss": issuer}
        return with_query(self.redirect_uri, query)


def with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def redirect_uri_matches(client: Client, uri: str) -> bool:
    """Exact, character-for-character matching (RFC 9700 section 2.1; no prefixes, no patterns).

    The one exception is a native app's loopback URI (RFC 8252 section 7.3): `http://127.0.0.1:<any port>/path`
    matches a registered `http://127.0.0.1/path` for a client marked `loopback_redirect` — and nothing else
    about the URI may differ (no user info, no other host, no `localhost`, which DNS could answer).
    """
    if uri in client.redirect_uris:
        return True
    if not client.loopback_redirect:
        return False
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if parts.scheme != "http" or host not in _LOOPBACK_HOSTS or port is None or parts.fragment:
        return False
    without_port = f"http://{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return without_port in client.redirect_uris


def parse(params: Mapping[str, str], realm: Realm) -> AuthorizationRequest:
    client = realm.clients.get(params.get("client_id", ""))
    if client is None:
        raise UnsafeRedirect("The application that sent you here is not known to identity.")
    redirect_uri = params.get("redirect_uri", "")
    # Required even with one registered URI (OAuth 2.1, OIDC Core 3.1.2.1): nothing is implied.
    if not redirect_uri or not redirect_uri_matches(client, redirect_uri):
        raise UnsafeRedirect(
            "The address the application asked to return to is not one it registered: identity will not send you there."
        )
    request = AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scopes=tuple(dict.fromkeys(params.get("scope", "").split())),
        state=params.get("state"),
        nonce=params.get("nonce"),
        code_challenge=params.get("code_challenge", ""),
        prompt=params.get("prompt"),
    )
    if GRANT_AUTHORIZATION_CODE not in client.grant_types:
        raise RedirectError("unauthorized_client", "this client may not use the authorization code flow", request)
    if params.get("response_type") != "code":
        # Only the code flow: no implicit grant (tokens in the URL fragment, RFC 9700 section 2.1.2).
        raise RedirectError("unsupported_response_type", "only response_type=code is supported", request)
    if not request.code_challenge:
        raise RedirectError("invalid_request", "PKCE is required: send code_challenge (S256)", request)
    # RFC 7636 section 4.3: no method means `plain`, which a stolen challenge would defeat: refused.
    if params.get("code_challenge_method") != S256:
        raise RedirectError("invalid_request", "code_challenge_method must be S256 (plain is not accepted)", request)
    if not _CHALLENGE.fullmatch(request.code_challenge):
        raise RedirectError("invalid_request", "code_challenge is not a base64url SHA-256", request)
    if len(request.state or "") > MAX_STATE or len(request.nonce or "") > MAX_NONCE:
        raise RedirectError("invalid_request", f"state is at most {MAX_STATE}, nonce {MAX_NONCE} characters", request)
    if request.prompt not in (None, "", "login", "none"):
        raise RedirectError("invalid_request", f"prompt={request.prompt} is not supported (login, none)", request)
    refused = [
        s for s in request.scopes if s not in client.scopes or s not in realm.scopes_for(client.audiences) | {OPENID}
    ]
    if refused:
        raise RedirectError("invalid_scope", f"not allowed here: {' '.join(refused)}", request)
    return request


def verifier_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 section 4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)

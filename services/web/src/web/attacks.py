"""The "try an attack" panel: a few attacks of the matrix (tests/e2e/infra/matrix.py, docs/boundary-modes.md)
sent as the signed-in user, for real, through the gateway; each result read back from the request's trace.

web holds the user's tokens server-side (the BFF session), so it can misuse them the way a thief would: add
a header, send the ID token where an access token goes, change a claim without re-signing. It never signs
anything: it has no key of identity's, and needs none to show that changed tokens are refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web.models import WebSession

#: The matrix's name for a header that would make the caller someone else (the gateway drops all of them).
SPOOFED_HEADERS = {"X-User-Id": "someone-else", "X-User-Name": "bob", "X-Roles": "admin"}


@dataclass(frozen=True)
class Attack:
    id: str  # as in the attack matrix where there is one
    title: str
    what: str
    #: The request: (method, path, bearer token, extra headers), from the session's own tokens.
    build: Callable[[WebSession], tuple[str, str, str, dict[str, str]]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rewritten(token: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The JWT with its claims changed and its header and signature kept: what anyone can do to a token they
    hold. The signature no longer matches; an opaque token (no claims) gets one character changed instead."""
    parts = token.split(".")
    if len(parts) != 3:
        return token[:-1] + ("A" if token[-1:] != "A" else "B")
    claims = json.loads(_unb64(parts[1]))
    change(claims)
    return ".".join((parts[0], _b64(json.dumps(claims, separators=(",", ":")).encode()), parts[2]))


def _access(row: WebSession) -> str:
    return row.access_token or ""


def _spoofed(row: WebSession) -> tuple[str, str, str, dict[str, str]]:
    return "GET", "/todos/whoami", _access(row), dict(SPOOFED_HEADERS)


def _other_audience(row: WebSession) -> tuple[str, str, str, dict[str, str]]:
    # The ID token is a real token identity signed, for another audience (`aud: web`, RFC 9068 section 4:
    # an access token is not an ID token): the classic misuse of it as a bearer token at an API.
    return "GET", "/todos/whoami", row.id_token or "", {}


def _tampered(row: WebSession) -> tuple[str, str, str, dict[str, str]]:
    def more(claims: dict[str, Any]) -> None:
        claims["scope"] = f"{claims.get('scope', '')} todos:admin".strip()
        claims["roles"] = ["admin"]

    return "GET", "/todos/audit?limit=1", rewritten(_access(row), more), {}


def _delegated(row: WebSession) -> tuple[str, str, str, dict[str, str]]:
    def delegated(claims: dict[str, Any]) -> None:
        claims["act"] = {"sub": "shares"}
        claims["aud"] = ["todos"]

    # web may not exchange tokens (only shares may, for todos): the closest it can send is its token made to
    # look delegated (RFC 8693 `act`) — opaque in phantom, so the ID token stands in as the JWT to change.
    base = _access(row) if _access(row).count(".") == 2 else (row.id_token or "")
    return "GET", "/todos/whoami", rewritten(base, delegated), {}


ATTACKS: tuple[Attack, ...] = (
    Attack("spoof-headers-at-gateway", "A spoofed identity header",
           "Your own token plus X-User-Id: someone-else, X-User-Name: bob, X-Roles: admin — to whoami.",
           _spoofed),
    Attack("wrong-audience", "A token for another audience",
           "Your ID token (audience: web) sent to the todos API as if it were an access token.", _other_audience),
    Attack("tampered-claims", "Tampered claims",
           "Your access token with todos:admin and the admin role added, the signature kept — to the audit.",
           _tampered),
    Attack("delegated-token-at-gateway", "A delegated token at the edge",
           "A token saying shares acts for you (act: shares, audience todos) sent to the edge.", _delegated),
)  # fmt: skip
BY_ID = {attack.id: attack for attack in ATTACKS}

"""The `extract` mode's identity headers, signed by the gateway for one service.

The gateway strips the token and sends who the user is as plain headers — `X-User-Id`, `X-User-Name`,
`X-Roles`, `X-Scopes` (space-separated) — plus `X-Gateway-Timestamp` and `X-Gateway-Signature`: an
HMAC-SHA256, with a key shared by the gateway and that one service, over those values, the target
service's name and the timestamp. A service trusts the headers only with a valid, fresh signature made
for it: a signature for another service, an old one, or any change to a value is refused. The
comparison is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from authz import exceptions as exc

USER_ID = "x-user-id"
USER_NAME = "x-user-name"
ROLES = "x-roles"
SCOPES = "x-scopes"
TIMESTAMP = "x-gateway-timestamp"
SIGNATURE = "x-gateway-signature"
ON_BEHALF_OF = "x-on-behalf-of"
CLIENT_CERT = "x-forwarded-client-cert"

#: Headers that claim an identity. The gateway removes every client-sent one (in any case, with `_`
#: for `-`) before it forwards anything, whatever the mode.
IDENTITY_HEADERS = frozenset({USER_ID, USER_NAME, ROLES, SCOPES, TIMESTAMP, SIGNATURE, ON_BEHALF_OF, CLIENT_CERT})


def is_identity_header(name: str) -> bool:
    return name.lower().replace("_", "-") in IDENTITY_HEADERS


@dataclass(frozen=True)
class SignedIdentity:
    user_id: str
    username: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]


def _message(identity: SignedIdentity, target: str, timestamp: str) -> bytes:
    # Newline-separated; none of the values may contain one (checked on both sides), so fields cannot
    # be shifted into each other.
    parts = [
        identity.user_id,
        identity.username,
        " ".join(identity.roles),
        " ".join(identity.scopes),
        target,
        timestamp,
    ]
    return "\n".join(parts).encode()


def _mac(key: bytes, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode()


def sign_identity(identity: SignedIdentity, *, key: bytes, target: str, now: float | None = None) -> dict[str, str]:
    """The headers the gateway sends to `target` for `identity`."""
    values = [identity.user_id, identity.username, *identity.roles, *identity.scopes, target]
    if any("\n" in v or "\r" in v for v in values):
        raise ValueError("identity values may not contain line breaks")
    timestamp = str(int(now if now is not None else time.time()))
    return {
        USER_ID: identity.user_id,
        USER_NAME: identity.username,
        ROLES: " ".join(identity.roles),
        SCOPES: " ".join(identity.scopes),
        TIMESTAMP: timestamp,
        SIGNATURE: _mac(key, _message(identity, target, timestamp)),
    }


def verify_identity(
    headers: Mapping[str, str], *, key: bytes, target: str, max_age_seconds: float = 30.0, now: float | None = None
) -> SignedIdentity:
    """The identity in `headers` if the gateway signed it for `target` within `max_age_seconds`."""
    missing = [h for h in (USER_ID, TIMESTAMP, SIGNATURE) if not headers.get(h)]
    if missing:
        raise exc.InvalidSignature(f"the signed identity headers are incomplete: {', '.join(missing)}")
    identity = SignedIdentity(
        user_id=headers[USER_ID],
        username=headers.get(USER_NAME, ""),
        roles=tuple(headers.get(ROLES, "").split()),
        scopes=tuple(headers.get(SCOPES, "").split()),
    )
    timestamp = headers[TIMESTAMP]
    expected = _mac(key, _message(identity, target, timestamp))
    if not hmac.compare_digest(expected.encode(), headers[SIGNATURE].encode()):
        raise exc.InvalidSignature("the gateway signature does not match these headers for this service")
    try:
        age = (now if now is not None else time.time()) - int(timestamp)
    except ValueError:
        raise exc.InvalidSignature("the gateway timestamp is not a number") from None
    if abs(age) > max_age_seconds:
        raise exc.ExpiredToken(f"the gateway signature is {age:.0f}s old (at most {max_age_seconds:.0f}s)")
    return identity

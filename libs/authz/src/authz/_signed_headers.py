"""The `extract` mode's signed request: who the user is, bound to the one request the gateway forwards.

The gateway strips the token and sends who the user is as plain headers — `X-User-Id`, `X-User-Name`,
`X-Roles`, `X-Scopes` (space-separated) — plus `X-Gateway-Timestamp`, `X-Gateway-Nonce` and
`X-Gateway-Signature`: an HMAC-SHA256, with a key shared by the gateway and that one service, over those
values, the target service's name, the timestamp, the nonce, and the request itself — its method, its
target in canonical form (authz._canonical) and a SHA-256 of its body. So a signature cannot be moved to
another service, another method, path, query or body, and a service accepts each nonce only once within
the window in which the timestamp is fresh. The comparison is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from authz import exceptions as exc

USER_ID = "x-user-id"
USER_NAME = "x-user-name"
ROLES = "x-roles"
SCOPES = "x-scopes"
TIMESTAMP = "x-gateway-timestamp"
NONCE = "x-gateway-nonce"
SIGNATURE = "x-gateway-signature"
ON_BEHALF_OF = "x-on-behalf-of"
CLIENT_CERT = "x-forwarded-client-cert"

#: Headers that claim an identity. The gateway removes every client-sent one (in any case, with `_`
#: for `-`) before it forwards anything, whatever the mode.
IDENTITY_HEADERS = frozenset(
    {USER_ID, USER_NAME, ROLES, SCOPES, TIMESTAMP, NONCE, SIGNATURE, ON_BEHALF_OF, CLIENT_CERT}
)

#: HMAC-SHA256 keys shorter than its output add no strength and are usually a typo or a placeholder
#: (RFC 2104 section 3: keys shorter than the hash length are "strongly discouraged").
MIN_KEY_BYTES = 32
#: How far ahead of a service's clock the gateway's may run: a signature at most this far in the future is
#: accepted (and one this much older than the maximum age). Stated in docs/boundary-modes.md.
CLOCK_SKEW_SECONDS = 2.0


def is_identity_header(name: str) -> bool:
    return name.lower().replace("_", "-") in IDENTITY_HEADERS


def check_key(value: str | None, setting: str) -> bytes:
    """`value` as a signing key, or a `ConfigurationError` naming `setting` (empty, whitespace, too short)."""
    if value is None or not value.strip():
        raise exc.ConfigurationError(f"{setting} is empty: extract mode needs a key of at least {MIN_KEY_BYTES} bytes")
    key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise exc.ConfigurationError(f"{setting} is {len(key)} bytes long: at least {MIN_KEY_BYTES} are needed")
    return key


@dataclass(frozen=True)
class SignedIdentity:
    user_id: str
    username: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class SignedRequest:
    """What the signature binds the identity to: the request as the gateway forwards it."""

    method: str
    #: The path and query in canonical form (`authz._canonical.canonical_target`).
    target: str
    body: bytes

    @property
    def body_digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _message(identity: SignedIdentity, service: str, timestamp: str, nonce: str, request: SignedRequest) -> bytes:
    # Newline-separated; none of the values may contain one (checked on both sides), so fields cannot
    # be shifted into each other.
    parts = [
        identity.user_id,
        identity.username,
        " ".join(identity.roles),
        " ".join(identity.scopes),
        service,
        timestamp,
        nonce,
        request.method,
        request.target,
        request.body_digest,
    ]
    if any("\n" in v or "\r" in v for v in parts):
        raise exc.InvalidSignature("signed values may not contain line breaks")
    return "\n".join(parts).encode()


def _mac(key: bytes, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode()


def sign_identity(
    identity: SignedIdentity,
    *,
    key: bytes,
    service: str,
    request: SignedRequest,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers the gateway sends to `service` for `identity` making `request`."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = nonce or new_nonce()
    return {
        USER_ID: identity.user_id,
        USER_NAME: identity.username,
        ROLES: " ".join(identity.roles),
        SCOPES: " ".join(identity.scopes),
        TIMESTAMP: timestamp,
        NONCE: nonce,
        SIGNATURE: _mac(key, _message(identity, service, timestamp, nonce, request)),
    }


@dataclass(frozen=True)
class VerifiedSignature:
    identity: SignedIdentity
    nonce: str
    #: Until when the signature would still be fresh: the nonce must be remembered that long.
    fresh_until: float


def verify_identity(
    headers: Mapping[str, str],
    *,
    key: bytes,
    service: str,
    request: SignedRequest,
    max_age_seconds: float = 30.0,
    now: float | None = None,
) -> VerifiedSignature:
    """The identity in `headers` if the gateway signed it for `service` and this very `request`, with
    a timestamp `t` such that `-skew <= now - t <= max_age + skew`. The nonce is not checked here (see
    `NonceCache`): that needs memory."""
    missing = [h for h in (USER_ID, TIMESTAMP, NONCE, SIGNATURE) if not headers.get(h)]
    if missing:
        raise exc.InvalidSignature(f"the signed identity headers are incomplete: {', '.join(missing)}")
    identity = SignedIdentity(
        user_id=headers[USER_ID],
        username=headers.get(USER_NAME, ""),
        roles=tuple(headers.get(ROLES, "").split()),
        scopes=tuple(headers.get(SCOPES, "").split()),
    )
    timestamp, nonce = headers[TIMESTAMP], headers[NONCE]
    expected = _mac(key, _message(identity, service, timestamp, nonce, request))
    if not hmac.compare_digest(expected.encode(), headers[SIGNATURE].encode()):
        raise exc.InvalidSignature(
            "the gateway signature does not match this request (method, path, query, body) for this service"
        )
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise exc.InvalidSignature("the gateway timestamp is not a number") from None
    age = (now if now is not None else time.time()) - signed_at
    if age < -CLOCK_SKEW_SECONDS:
        raise exc.TokenNotYetValid(f"the gateway signature is dated {-age:.0f}s in the future")
    if age > max_age_seconds + CLOCK_SKEW_SECONDS:
        raise exc.ExpiredToken(f"the gateway signature is {age:.0f}s old (at most {max_age_seconds:.0f}s)")
    return VerifiedSignature(identity, nonce, signed_at + max_age_seconds + CLOCK_SKEW_SECONDS)


class NonceCache:
    """The nonces of signatures still fresh, each accepted once. Memory is bounded: an entry lives only
    until its signature would be refused as stale anyway, and at most `max_entries` are kept — when that
    many fresh ones are held, a new request is refused (503) rather than a nonce forgotten early."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> fresh until, oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def use(self, nonce: str, fresh_until: float, now: float | None = None) -> None:
        now = now if now is not None else time.time()
        self._forget_stale(now)
        if nonce in self._seen:
            raise exc.ReplayedSignature()
        if len(self._seen) >= self._max:
            raise exc.ReplayCacheFull()
        # Insertion order is nearly expiry order (timestamps are whole seconds of one gateway clock): an
        # entry that outlives one inserted after it only keeps that one a little longer.
        self._seen[nonce] = fresh_until

    def _forget_stale(self, now: float) -> None:
        while self._seen:
            nonce, until = next(iter(self._seen.items()))
            if until >= now:
                return
            del self._seen[nonce]

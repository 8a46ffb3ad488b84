"""Verifying access tokens: every check named, nothing trusted before the signature."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt

from authz import exceptions as exc
from authz._cache import ExpiringCache
from authz._jwks import KeySource
from authz._settings import AuthzSettings

#: RFC 9068 section 2.1: access tokens carry `typ: at+jwt` so that an ID token or any other JWT
#: from the same issuer cannot be replayed as an access token. Ref: https://www.rfc-editor.org/rfc/rfc9068
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")
_KEY_TYPE_FOR_ALG_PREFIX = {"ES": "EC", "RS": "RSA", "PS": "RSA"}


class TokenVerifier:
    """Verifies a JWT access token and returns its claims, or raises the error naming the failed check.

    Checks, in order: well-formed; `alg` in the allowlist; `typ` is `at+jwt`; `kid` known (one rate-limited
    JWKS refetch if not); the key's type fits `alg` (no key confusion); signature; `iss`, `aud`, `exp`,
    `nbf`, `iat` with a small explicit leeway; required claims present. Verified tokens are cached by
    their SHA-256 until `exp`, so a repeated token costs a hash and a dict lookup.

    `audience=None` skips the audience check: only for an issuer answering about its own tokens
    (introspection), never for a resource server.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str | Iterable[str],
        audience: str | None,
        algorithms: Iterable[str] = ("ES256", "RS256"),
        leeway_seconds: int = 10,
        token_types: Iterable[str] | None = ACCESS_TOKEN_TYPES,
        required_claims: Iterable[str] = REQUIRED_CLAIMS,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self._issuers = {issuer} if isinstance(issuer, str) else set(issuer)
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway_seconds
        self._token_types = frozenset(token_types) if token_types is not None else None
        self._required = list(required_claims)
        self._cache: ExpiringCache[bytes, dict[str, Any]] = ExpiringCache(cache_size)
        self._clock = clock

    @classmethod
    def from_settings(cls, keys: KeySource, settings: AuthzSettings, *, audience: str | None) -> TokenVerifier:
        """A verifier with the `AUTHZ_*` settings' issuer, algorithms, leeway, token types and cache, for
        `audience` (a service passes its own; the gateway one per routed service)."""
        return cls(
            keys,
            issuer=settings.issuer,
            audience=audience,
            algorithms=settings.algorithms,
            leeway_seconds=settings.leeway_seconds,
            token_types=[t.lower() for t in settings.token_types],
            cache_size=settings.token_cache_size,
        )

    @property
    def cache_entries(self) -> int:
        return len(self._cache)

    async def verify(self, token: str) -> dict[str, Any]:
        cache_key = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._cache.get(cache_key, now - self._leeway)
        if cached is not None:
            return cached
        header = self._header(token)
        key = await self.keys.get(header["kid"])
        self._check_key_fits(key, header["alg"])
        claims = self._decode(token, key.key, header["alg"], now)
        self._cache.put(cache_key, claims, claims["exp"])
        return claims

    def _header(self, token: str) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:  # DecodeError and its siblings (a bad kid type, an unknown crit)
            raise exc.MalformedToken(f"the token is not a well-formed JWT: {e}") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            allowed = ", ".join(sorted(self._algorithms))
            raise exc.DisallowedAlgorithm(f"alg {alg!r} is not allowed (allowed: {allowed})")
        typ = str(header.get("typ", "")).lower()
        if self._token_types is not None and typ not in self._token_types:
            raise exc.WrongTokenType(f"typ {header.get('typ')!r} is not an access token type (at+jwt)")
        if not isinstance(header.get("kid"), str):
            raise exc.MalformedToken("the token header has no kid")
        return header

    @staticmethod
    def _check_key_fits(key: jwt.PyJWK, alg: str) -> None:
        # The JWKS says what each key is for; a token must not choose a different use for it.
        expected_kty = _KEY_TYPE_FOR_ALG_PREFIX.get(alg[:2])
        if key.key_type != expected_kty or (key.algorithm_name and key.algorithm_name != alg):
            raise exc.InvalidSignature(f"key {key.key_id!r} is not a key for alg {alg}")

    def _decode(self, token: str, key: Any, alg: str, now: float) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                # Time claims are checked below against the injected clock, not PyJWT's wall clock.
                options={
                    "require": self._required,
                    "verify_aud": self._audience is not None,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise exc.WrongAudience(f"the token's aud does not name {self._audience!r}") from None
        except jwt.MissingRequiredClaimError as e:
            raise exc.MissingClaim(f"the token lacks the {e.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise exc.InvalidSignature() from None
        except jwt.InvalidTokenError as e:
            raise exc.MalformedToken(f"the token was refused: {e}") from None
        self._check_claims(claims, now)
        return claims

    def decode_unverified(self, token: str) -> dict[str, Any]:
        """The `trust` mode's decode: every claim check, but NO signature check — a forged token passes.

        Only for a token that the gateway is known to have verified (with the mesh, the mTLS peer says
        so); docs/boundary-modes.md shows what it costs without the mesh.
        """
        try:
            # trust mode: the signature is deliberately not checked here (the point of the mode).
            claims = jwt.decode(token, options={"verify_signature": False})  # the trust mode only
        except jwt.InvalidTokenError as e:
            raise exc.MalformedToken(f"the token is not a well-formed JWT: {e}") from None
        missing = [c for c in self._required if c not in claims]
        if missing:
            raise exc.MissingClaim(f"the token lacks the {missing[0]!r} claim")
        aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if self._audience is not None and self._audience not in aud:
            raise exc.WrongAudience(f"the token's aud does not name {self._audience!r}")
        self._check_claims(claims, self._clock())
        return claims

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        # iss is checked here (after the signature) so a list of trusted issuers is possible.
        if claims.get("iss") not in self._issuers:
            raise exc.WrongIssuer(f"the token's iss {claims.get('iss')!r} is not trusted")
        self._check_times(claims, now)

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise exc.MalformedToken(f"the token's {name} is not a number")
        if claims["exp"] <= now - self._leeway:
            raise exc.ExpiredToken()
        if claims.get("nbf", 0) > now + self._leeway:
            raise exc.TokenNotYetValid("the token's nbf is in the future")
        if claims["iat"] > now + self._leeway:
            raise exc.TokenNotYetValid("the token's iat is in the future")


def peek_issuer(token: str) -> str | None:
    """The `iss` a token claims, read WITHOUT verifying it: only to choose which verifier (which issuer's
    keys) then checks the token fully. Nothing else may be taken from an unverified token."""
    try:
        # Routing only: the chosen verifier checks the signature, and that `iss`, right after.
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as e:
        raise exc.MalformedToken(f"the token is not a well-formed JWT: {e}") from None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None

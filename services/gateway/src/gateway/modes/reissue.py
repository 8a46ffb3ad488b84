"""The `reissue` mode: the edge token stops at the gateway; each service gets a token minted for it alone.

The internal token keeps who the user is (`sub`, `scope`, `roles`, `preferred_username`, `email`,
`client_id`) and changes where it is good: `iss` is the gateway, `aud` names only the target service,
and it lives seconds (30 by default) instead of the edge token's minutes. A service that leaks or replays
it can reach nothing else, and it expires before it is worth much. Services verify it with the gateway's
public key, published at `/.well-known/jwks.json` (RFC 7517), like any other issuer's.
Ref: RFC 9068 (JWT access tokens); the seed book's chapter on token exchange at the edge.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import ECAlgorithm

import authz
from authz import Kind, Mode
from gateway.modes._base import BuildContext, Edge, EdgeMode, GatewayMode

#: The claims of the edge token that say who the user is; everything else is the gateway's to set.
KEPT_CLAIMS = ("sub", "client_id", "scope", "roles", "preferred_username", "email")


class GatewayKey:
    """The gateway's ES256 signing key and its public JWK.

    Generated at start-up unless a PEM is given (several gateway replicas must share one key; in Kubernetes
    it comes from a Secret). The `kid` is the RFC 7638 thumbprint, so the same key always has the same kid.
    """

    def __init__(self, private_key: PrivateKeyTypes) -> None:
        # A PEM from the environment may hold any kind of key: only P-256 signs ES256.
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise authz.ConfigurationError("the gateway's signing key must be an EC P-256 key (ES256)")
        self._key = private_key
        public = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.kid = _thumbprint(public)
        self.public_jwk = {**public, "kid": self.kid, "alg": "ES256", "use": "sig"}

    @classmethod
    def generate(cls) -> GatewayKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: str) -> GatewayKey:
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as e:
            raise authz.ConfigurationError(f"GATEWAY_SIGNING_KEY is not a PEM private key: {e}") from None
        return cls(key)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self.public_jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid, "typ": "at+jwt"})


def _thumbprint(jwk: dict[str, Any]) -> str:
    # RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class ReissueToken:
    """Mints (or reuses) the internal token for the edge token's user and the target service.

    Minted tokens are cached per (edge token, service) and reused while at least a third of their life
    is left, so a busy user costs one ES256 signature per service every ~20 s instead of one per request.
    An internal token never outlives the edge token it came from.
    """

    def __init__(
        self,
        key: GatewayKey,
        *,
        issuer: str,
        audiences: dict[str, str],
        lifetime_seconds: int = 30,
        cache_size: int = 10_000,
        clock=time.time,
    ) -> None:
        self.key = key
        self.issuer = issuer
        self._audiences = audiences
        self._lifetime = lifetime_seconds
        self._reuse_margin = max(1, lifetime_seconds // 3)
        self._cache: authz.ExpiringCache[tuple[bytes, str], str] = authz.ExpiringCache(cache_size)
        self._clock = clock
        #: Tokens signed since start: a learner can watch the cache keep this far below the request count.
        self.minted = 0

    async def admit(self, token: str) -> str:
        return token

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token_for(edge)}")]

    def metrics(self) -> dict[str, float]:
        # The per-user-and-service cache keeps this far below the number of forwarded requests.
        return {"gateway_internal_tokens_minted_total": self.minted}

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return self.key.jwks()

    def token_for(self, edge: Edge) -> str:
        p = edge.principal
        if p.kind is not Kind.USER or p.is_delegated:
            raise authz.WrongPrincipalKind("in reissue mode the gateway forwards users' own requests only")
        now = int(self._clock())
        key = (hashlib.sha256(edge.token.encode()).digest(), edge.service)
        cached = self._cache.get(key, now, fresh_for=self._reuse_margin)
        if cached is not None:
            return cached
        claims = {name: p.claims[name] for name in KEPT_CLAIMS if name in p.claims}
        exp = min(now + self._lifetime, int(p.claims["exp"]))
        claims |= {
            "iss": self.issuer,
            "aud": self._audiences.get(edge.service, edge.service),
            "iat": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
        }
        token = self.key.sign(claims)
        self.minted += 1
        self._cache.put(key, token, exp)
        return token


async def _build(ctx: BuildContext) -> EdgeMode:
    s = ctx.settings
    if s.issuer.rstrip("/") == s.authz.issuer.rstrip("/"):
        raise authz.ConfigurationError("GATEWAY_ISSUER must differ from AUTHZ_ISSUER: services tell them apart")
    key = GatewayKey.from_pem(s.signing_key.get_secret_value()) if s.signing_key else GatewayKey.generate()
    return ReissueToken(
        key,
        issuer=s.issuer,
        audiences={service: s.audience(service) for service in s.upstreams},
        lifetime_seconds=s.internal_token_lifetime_seconds,
    )


MODE = GatewayMode(
    mode=Mode.REISSUE,
    summary="validates the edge JWT, mints an ES256 token for the one target service (`iss` = gateway, "
    "`aud` = that service only, 30 s), cached per edge token and target",
    settings=("GATEWAY_ISSUER",),
    build=_build,
    issues_tokens=True,
)

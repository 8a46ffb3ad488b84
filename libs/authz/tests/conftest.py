"""Fixtures for the `authz` tests: a throw-away issuer, a fake clock, a recording transport, a token forger.

Keys are generated at test time (`FakeIssuer` makes its own; `Forger` makes the attacker's). The network is
`httpx.MockTransport` only: discovery and JWKS come from the issuer object, never from a socket.

With `--import-mode=importlib` a test module cannot import this file, so every helper reaches the tests
as a fixture.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authz import JwksCache, TokenVerifier
from authz.testing import FakeIssuer

ISSUER = "http://identity.test"
AUDIENCE = "todos"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"


class Issuer(FakeIssuer):
    """`FakeIssuer` plus what the negative tests need: tokens with any claim set and any header."""

    @property
    def discovery_url(self) -> str:
        return self.issuer + DISCOVERY_PATH

    @property
    def jwks_url(self) -> str:
        return self.issuer + JWKS_PATH

    def claims(self, *, drop: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
        """A valid access-token claim set for audience `todos`, with `overrides` applied and `drop` removed."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": os.urandom(8).hex(),
            "client_id": "todo-cli",
            "scope": "todos:read",
            "roles": ["user"],
        }
        claims.update(overrides)
        for name in drop:
            del claims[name]
        return claims

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """Sign `claims` with the current key; `headers` replaces the default `{kid, typ: at+jwt}` entirely."""
        header = {"kid": self.kid, "typ": "at+jwt"} if headers is None else headers
        return jwt.encode(claims, self._keys[self.kid], algorithm=self.alg, headers=header)

    def public_jwk(self) -> dict[str, Any]:
        """The JWKS entry of the current key, exactly as a resource server sees it."""
        return next(k for k in self.jwks()["keys"] if k["kid"] == self.kid)

    def public_pem(self) -> bytes:
        """The current public key as PEM, built from the published JWK (what an attacker can download)."""
        public_key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(self.public_jwk()))
        return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Forger:
    """Builds tokens the way an attacker would: by hand, or signed with keys the issuer never published."""

    @staticmethod
    def b64url(data: bytes | dict[str, Any] | list[Any]) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def compact(self, header: Any, payload: dict[str, Any], signature: bytes = b"") -> str:
        """The JWS compact serialization of `header.payload.signature`, signature as given (empty: unsigned)."""
        return f"{self.b64url(header)}.{self.b64url(payload)}.{self.b64url(signature) if signature else ''}"

    def hs256(self, header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
        """An HS256 token signed with `secret`; PyJWT refuses a PEM as an HMAC secret, so this is done by hand."""
        signing_input = f"{self.b64url(header)}.{self.b64url(payload)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{self.b64url(mac)}"

    @staticmethod
    def ec_key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    @staticmethod
    def rsa_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @staticmethod
    def sign(private_key: Any, claims: dict[str, Any], *, alg: str, headers: dict[str, Any]) -> str:
        return jwt.encode(claims, private_key, algorithm=alg, headers=headers)


class FakeClock:
    """A clock the test moves by hand (usable for both `time.time` and `time.monotonic` parameters)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingTransport:
    """Serves the issuer's endpoints, records every request path, and can be slow or broken on purpose."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.paths: list[str] = []
        #: Seconds each response waits: lets concurrent callers really overlap on the event loop.
        self.delay = 0.0
        #: path -> response that replaces the issuer's answer (an outage, a broken JWKS).
        self.overrides: dict[str, Callable[[], httpx.Response]] = {}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.delay:
            await asyncio.sleep(self.delay)
        override = self.overrides.get(request.url.path)
        return override() if override is not None else self.issuer.handle(request)

    def count(self, path: str) -> int:
        return self.paths.count(path)


@pytest.fixture(autouse=True)
def _clean_authz_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `AUTHZ_*` variable of the machine running the tests may leak into `AuthzSettings`."""
    for name in list(os.environ):
        if name.upper().startswith("AUTHZ_"):
            monkeypatch.delenv(name)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(ISSUER)


@pytest.fixture
def forger() -> Forger:
    return Forger()


@pytest.fixture
def clock() -> FakeClock:
    # A whole number of seconds, so that advancing by whole seconds compares exactly.
    return FakeClock(float(int(time.time())))


@pytest.fixture
def recorder(issuer: Issuer) -> RecordingTransport:
    return RecordingTransport(issuer)


@pytest.fixture
async def http(recorder: RecordingTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder.handle)) as client:
        yield client


@pytest.fixture
def make_jwks(http: httpx.AsyncClient, issuer: Issuer) -> Callable[..., JwksCache]:
    """A `JwksCache` finding the JWKS through discovery; keyword arguments override the defaults."""

    def make(**kwargs: Any) -> JwksCache:
        kwargs.setdefault("discovery_url", None if "jwks_url" in kwargs else issuer.discovery_url)
        return JwksCache(http, **kwargs)

    return make


@pytest.fixture
def make_verifier(make_jwks: Callable[..., JwksCache], issuer: Issuer) -> Callable[..., TokenVerifier]:
    """A `TokenVerifier` for audience `todos` over a fresh `JwksCache`; keyword arguments override the defaults."""

    def make(*, keys: Any = None, **kwargs: Any) -> TokenVerifier:
        kwargs.setdefault("issuer", issuer.issuer)
        kwargs.setdefault("audience", AUDIENCE)
        return TokenVerifier(keys if keys is not None else make_jwks(), **kwargs)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., TokenVerifier]) -> TokenVerifier:
    return make_verifier()

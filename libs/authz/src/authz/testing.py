"""Test helpers for services built on `authz`: a throw-away issuer and a route audit.

`FakeIssuer` makes a fresh key pair per instance (no private key is ever committed), mints access
tokens, and serves discovery and JWKS through an `httpx.MockTransport`, so a service's unit tests
exercise the real verifier without a network.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from authz._fastapi import get_principal


class Caller(dict[str, str]):
    """Request headers carrying a bearer token, and who it is for: `client.get(url, headers=alice)`."""

    def __init__(self, token: str, *, sub: str, username: str | None = None) -> None:
        super().__init__(Authorization=f"Bearer {token}")
        self.token = token
        self.sub = sub
        self.username = username


class FakeIssuer:
    """An issuer for tests. `token(...)` mints a token; `transport` answers discovery and JWKS."""

    def __init__(self, issuer: str = "http://identity.test", *, alg: str = "ES256") -> None:
        self.issuer = issuer
        self.alg = alg
        self.jwks_requests = 0
        self._keys: dict[str, Any] = {}
        self.kid = self.add_key()

    def add_key(self, kid: str | None = None) -> str:
        """Add a signing key (it becomes the one used by `token`), as a key rotation would."""
        kid = kid or uuid.uuid4().hex[:12]
        if self.alg.startswith("ES"):
            key: Any = ec.generate_private_key(ec.SECP256R1())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._keys[kid] = key
        self.kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        algo = jwt.get_algorithm_by_name(self.alg)
        keys = []
        for kid, key in self._keys.items():
            jwk = json.loads(algo.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": self.alg, "use": "sig"})
        return {"keys": keys}

    def token(
        self,
        *,
        sub: str | None = None,
        audience: str | list[str] = "todos",
        scope: str | Iterable[str] = "",
        roles: Iterable[str] = ("user",),
        client_id: str = "todo-cli",
        username: str | None = None,
        lifetime: int = 300,
        headers: dict[str, Any] | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub or str(uuid.uuid4()),
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "scope": scope if isinstance(scope, str) else " ".join(scope),
            "roles": list(roles),
        }
        if username:
            payload["preferred_username"] = username
        payload.update(claims)
        kid = kid or self.kid
        header = {"kid": kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(payload, self._keys[kid], algorithm=self.alg, headers=header)

    def caller(self, *, sub: str, username: str | None = None, **token_kwargs: Any) -> Caller:
        """A `Caller` whose token `token(sub=..., username=..., **token_kwargs)` mints."""
        return Caller(self.token(sub=sub, username=username, **token_kwargs), sub=sub, username=username)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})
        if request.url.path == "/jwks":
            self.jwks_requests += 1
            return httpx.Response(200, json=self.jwks())
        return httpx.Response(404)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def unprotected_routes(
    app: FastAPI, *, allow: Iterable[str] = (), guards: Iterable[Callable[..., Any]] = (get_principal,)
) -> list[str]:
    """Routes of `app` that do not depend on `authz` (directly or through a sub-dependency).

    The meta-test (tests/test_routes_protected.py) asserts this is empty for every service, so a new
    endpoint cannot ship without an auth check. `guards` are the dependencies that count as one: `authz`'s
    principal, and where a service authenticates callers otherwise (identity's admin clients), that too.
    """
    allowed = set(allow)
    guard_set = set(guards)

    def depends_on_principal(dependant: Dependant) -> bool:
        return any(d.call in guard_set or depends_on_principal(d) for d in dependant.dependencies)

    return [
        f"{sorted(route.methods or ())} {path}"
        for path, route in _api_routes(app)
        if path not in allowed and not depends_on_principal(route.dependant)
    ]


def _api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every API route with its full path, included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.165 copied included routes into app.routes
        return [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    return [
        (ctx.path or "", ctx.original_route)
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
    ]

"""The web UI as an OpenID Connect relying party: the code flow with PKCE (S256), state and nonce, the ID
token validated, refresh with rotation, and the end of the session at identity.

Everything is found from the issuer URL (OIDC Discovery 1.0); identity is reached where `AUTHZ_IDENTITY_URL`
says (with the mesh, this service's outbound sidecar), while `iss` is always checked against the public
issuer. Ref: RFC 6749 section 4.1, RFC 7636, RFC 9700 section 2.1, OIDC Core 1.0 section 3.1.3.7.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import jwt

from web.settings import Settings


class SignInError(Exception):
    """A step of signing in (or refreshing) was refused: the message is safe to show to the user."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str | None
    id_token: str | None


@dataclass(frozen=True)
class LoginStart:
    url: str
    state: str
    nonce: str
    verifier: str


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), RFC 7636 section 4: 64 random bytes of verifier, its SHA-256 as challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Identity:
    """identity as this client sees it: discovery read once, the JWKS cached (refetched on an unknown `kid`)."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self._meta: dict[str, Any] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._keys_fetched = 0.0

    @property
    def _auth(self) -> tuple[str, str]:
        return self._settings.client_id, self._settings.client_secret.get_secret_value()

    def _internal(self, url: str) -> str:
        """A URL discovery gave (public, on the issuer's host), as this process reaches identity."""
        reach = self._settings.authz.identity_url
        if not reach:
            return url
        base, parts = urlsplit(reach), urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    async def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            issuer = self._settings.authz.issuer.rstrip("/")
            url = self._internal(issuer + "/.well-known/openid-configuration")
            response = await self._http.get(url)
            response.raise_for_status()
            meta = response.json()
            if meta.get("issuer") != self._settings.authz.issuer:
                raise SignInError("identity's discovery document names another issuer")
            if "S256" not in meta.get("code_challenge_methods_supported", []):
                raise SignInError("identity does not offer PKCE with S256")
            self._meta = meta
        return self._meta

    async def start(self) -> LoginStart:
        """The authorization request (RFC 6749 section 4.1.1) with PKCE, `state` and `nonce`."""
        meta = await self.metadata()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = {
            "response_type": "code", "client_id": self._settings.client_id,
            "redirect_uri": self._settings.redirect_uri, "scope": self._settings.scope, "state": state,
            "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
        }  # fmt: skip
        return LoginStart(meta["authorization_endpoint"] + "?" + urlencode(query), state, nonce, verifier)

    async def redeem(self, code: str, verifier: str) -> Tokens:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self._settings.redirect_uri,
                "code_verifier": verifier}  # fmt: skip
        return await self._token(data)

    async def refresh(self, refresh_token: str) -> Tokens:
        """RFC 6749 section 6; identity rotates the refresh token at every use (the new one replaces it)."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token(self, data: dict[str, str]) -> Tokens:
        meta = await self.metadata()
        response = await self._http.post(self._internal(meta["token_endpoint"]), data=data, auth=self._auth)
        if response.status_code != 200:
            raise SignInError("identity refused to issue tokens; please sign in again")
        body = response.json()
        return Tokens(
            access_token=body["access_token"],
            expires_in=int(body.get("expires_in", 300)),
            refresh_token=body.get("refresh_token"),
            id_token=body.get("id_token"),
        )

    async def _jwks(self, kid: str) -> jwt.PyJWK:
        if self._keys is not None:
            try:
                return self._keys[kid]
            except KeyError:
                if time.monotonic() - self._keys_fetched < self._settings.authz.jwks_min_refetch_seconds:
                    raise SignInError("the ID token is signed with a key identity does not publish") from None
        meta = await self.metadata()
        response = await self._http.get(self._internal(meta["jwks_uri"]))
        response.raise_for_status()
        self._keys, self._keys_fetched = jwt.PyJWKSet.from_dict(response.json()), time.monotonic()
        try:
            return self._keys[kid]
        except KeyError:
            raise SignInError("the ID token is signed with a key identity does not publish") from None

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """OIDC Core 3.1.3.7: signed by a key of identity's JWKS with an allowed algorithm, `iss` the issuer,
        `aud` this client, unexpired, and the `nonce` of this sign-in (against a replayed ID token)."""
        try:
            header = jwt.get_unverified_header(id_token)
            key = await self._jwks(str(header.get("kid", "")))
            claims: dict[str, Any] = jwt.decode(
                id_token, key, algorithms=self._settings.authz.algorithms, audience=self._settings.client_id,
                issuer=self._settings.authz.issuer, leeway=self._settings.leeway_seconds,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "nonce"]},
            )  # fmt: skip
        except jwt.PyJWTError as error:
            raise SignInError(f"the ID token is not valid ({type(error).__name__})") from None
        if not secrets.compare_digest(str(claims["nonce"]), nonce):
            raise SignInError("the ID token belongs to another sign-in")
        return claims

    async def end_session(self, id_token: str) -> None:
        """RP-initiated logout (OIDC RP-Initiated Logout 1.0) with the ID token as `id_token_hint`, sent by this
        server: identity ends the login session it names and every refresh family bound to it. Sent from
        here rather than through the browser so that the ID token never reaches the browser (docs/web.md)."""
        meta = await self.metadata()
        endpoint = meta.get("end_session_endpoint")
        if endpoint:
            await self._http.post(
                self._internal(endpoint),
                data={"id_token_hint": id_token, "client_id": self._settings.client_id},
            )

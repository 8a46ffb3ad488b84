"""Outbound auth: a service's own token (client credentials) and a user's delegated one (token exchange).

Both are `httpx.Auth` classes, so service code stays `await http.get(url, auth=auth)`. Tokens are cached
until shortly before they expire and fetched one at a time per cache key, so a burst of calls costs the
issuer one token request. Ref: https://www.rfc-editor.org/rfc/rfc6749#section-4.4 (client credentials),
https://www.rfc-editor.org/rfc/rfc8693 (token exchange).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass

import httpx

from authz._discovery import DiscoveryError, discover_endpoint
from authz._principal import Kind, Principal
from authz._settings import AuthzSettings
from authz.modes import service_mode

log = logging.getLogger("authz.client")

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


class OutboundAuthError(Exception):
    """The issuer would not give this service a token (it answers 502 to its own caller)."""

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


@dataclass(frozen=True)
class _Token:
    value: str
    #: When to stop handing it out: `refresh_margin` before expiry, or halfway for a short-lived token.
    refresh_at: float


class OAuthClient:
    """This service as an OAuth client of the issuer: hands out `httpx.Auth` objects that carry tokens.

    Build one per service in the lifespan and keep it: the token caches live here.

        oauth = OAuthClient(http, settings.authz, client_id="reminders", client_secret=secret)
        due = await http.get(f"{todos}/todos/due", auth=oauth.client_credentials("todos", "todos:due:read"))
        mine = await http.get(url, auth=oauth.token_exchange(principal.token, "todos", "todos:read"))
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: AuthzSettings,
        *,
        client_id: str,
        client_secret: str,
        refresh_margin_seconds: float = 30.0,
        exchange_cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._settings = settings
        self._client_id = client_id
        self._secret = client_secret
        self._margin = refresh_margin_seconds
        self._clock = clock
        if exchange_cache_size < 1:
            raise ValueError("exchange_cache_size must be at least 1")
        self._token_url: str | None = settings.token_url
        self._discovery_lock = asyncio.Lock()
        self._cache: dict[tuple[str, ...], _Token] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self._exchange_cache_size = exchange_cache_size
        #: Tokens fetched from the issuer, per grant: a learner can watch one token serve many calls.
        self.fetched: dict[str, int] = {GRANT_CLIENT_CREDENTIALS: 0, GRANT_TOKEN_EXCHANGE: 0}

    @property
    def client_id(self) -> str:
        return self._client_id

    def client_credentials(self, audience: str, scope: str) -> httpx.Auth:
        """The service's own token for `audience` with `scope` (no user involved)."""
        return _OAuthAuth(self, (GRANT_CLIENT_CREDENTIALS, audience, scope), {"audience": audience, "scope": scope})

    def token_exchange(self, subject_token: str, audience: str, scope: str) -> httpx.Auth:
        """A token for `audience`, on behalf of the user of `subject_token` (RFC 8693 delegation: the
        result's `sub` is the user, its `act.sub` this client). Cached per subject token, audience, scope."""
        digest = hashlib.sha256(subject_token.encode()).hexdigest()
        form = {
            "subject_token": subject_token,
            "subject_token_type": TOKEN_TYPE_ACCESS_TOKEN,
            "requested_token_type": TOKEN_TYPE_ACCESS_TOKEN,
            "audience": audience,
            "scope": scope,
        }
        return _OAuthAuth(self, (GRANT_TOKEN_EXCHANGE, digest, audience, scope), form)

    def for_user(self, principal: Principal, audience: str, scope: str) -> httpx.Auth:
        """Call `audience` for the user behind `principal`: by exchanging their token (delegation), or, in
        a mode where no user token reaches this service (`ServiceMode.trusted_subsystem`), with its own
        token plus `X-On-Behalf-Of` (the trusted-subsystem fallback, which the callee honours only there)."""
        if principal.token is not None:
            return self.token_exchange(principal.token, audience, scope)
        if service_mode(principal.mode).trusted_subsystem and principal.kind is Kind.USER:
            key = (GRANT_CLIENT_CREDENTIALS, audience, scope)
            form = {"audience": audience, "scope": scope}
            return _OAuthAuth(self, key, form, extra_headers={"X-On-Behalf-Of": principal.subject})
        # No user token and no trusted-subsystem mode: no call — a service never acts for a user who is not present.
        raise OutboundAuthError("there is no user token to act on")

    def metrics(self) -> dict[str, float]:
        return {f'authz_outbound_tokens_fetched_total{{grant="{g}"}}': n for g, n in self.fetched.items()}

    async def token(self, key: tuple[str, ...], form: dict[str, str], *, stale: str | None = None) -> str:
        """The cached token for `key`, or a new one. `stale` names a token the callee refused: it is
        replaced unless another caller has already replaced it (a burst of 401s costs one new token)."""
        cached = self._usable(key, stale)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                cached = self._usable(key, stale)  # someone may have fetched it while we waited
                if cached is not None:
                    return cached
                token = await self._fetch(key[0], form)
                self._remember(key, token)
                return token.value
        finally:
            if key not in self._cache and not lock.locked():
                self._locks.pop(key, None)  # a refused fetch leaves nothing behind

    def _usable(self, key: tuple[str, ...], stale: str | None) -> str | None:
        cached = self._cache.get(key)
        if cached is None or cached.value == stale or cached.refresh_at <= self._clock():
            return None
        return cached.value

    def _remember(self, key: tuple[str, ...], token: _Token) -> None:
        if key[0] == GRANT_TOKEN_EXCHANGE and key not in self._cache:
            now = self._clock()
            for old in [k for k, t in self._cache.items() if t.refresh_at <= now]:
                self._forget(old)
            exchanged = [k for k in self._cache if k[0] == GRANT_TOKEN_EXCHANGE]
            if len(exchanged) >= self._exchange_cache_size:
                self._forget(exchanged[0])  # the oldest
        self._cache[key] = token

    def _forget(self, key: tuple[str, ...]) -> None:
        self._cache.pop(key, None)
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]

    async def _fetch(self, grant: str, form: dict[str, str]) -> _Token:
        url = await self._endpoint()
        try:
            response = await self._http.post(
                url, data={"grant_type": grant, **form}, auth=httpx.BasicAuth(self._client_id, self._secret)
            )
        except httpx.HTTPError as e:
            raise OutboundAuthError(f"the token endpoint did not answer: {type(e).__name__}") from e
        if response.status_code != 200:
            error = _oauth_error(response)
            raise OutboundAuthError(
                f"the issuer refused a {grant} token: {error or response.status_code}",
                error=error,
                status=response.status_code,
            )
        try:
            body = response.json()
            value = body["access_token"]
            lifetime = float(body.get("expires_in", 60))
            if not isinstance(value, str) or not value:
                raise ValueError("access_token is not a string")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise OutboundAuthError(f"the issuer's token response is malformed: {type(e).__name__}") from e
        self.fetched[grant] = self.fetched.get(grant, 0) + 1
        log.info("token fetched", extra={"grant": grant, "client_id": self._client_id})
        # Reuse until `margin` before expiry; a token living less than twice the margin, until halfway.
        reuse_for = max(lifetime - self._margin, lifetime / 2)
        return _Token(value, self._clock() + reuse_for)

    async def _endpoint(self) -> str:
        async with self._discovery_lock:  # one discovery, however many keys start cold at once
            if self._token_url is None:
                try:
                    self._token_url = await discover_endpoint(
                        self._http, self._settings.discovery_url, "token_endpoint"
                    )
                except DiscoveryError as e:
                    raise OutboundAuthError(f"could not discover the token endpoint: {e}") from e
            return self._token_url


def _oauth_error(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(error) if error is not None else None


class _OAuthAuth(httpx.Auth):
    """Adds `Authorization: Bearer …` from the client's cache; on a 401 fetches a fresh token once."""

    def __init__(
        self,
        client: OAuthClient,
        key: tuple[str, ...],
        form: dict[str, str],
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self._client = client
        self._key = key
        self._form = form
        self._extra = extra_headers or {}

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuthClient tokens are for httpx.AsyncClient")
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._client.token(self._key, self._form)
        request.headers.update(self._extra)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # The token may have been revoked or the issuer's keys rotated past it: one fresh try.
            fresh = await self._client.token(self._key, self._form, stale=token)
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request

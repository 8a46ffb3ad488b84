"""The issuer's signing keys, fetched once and parsed once per `kid`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from authz._discovery import discover_endpoint
from authz._settings import AuthzSettings
from authz.exceptions import KeySetUnavailable, UnknownKey

log = logging.getLogger("authz.jwks")

#: After a failed fetch, callers are refused (KeySetUnavailable) for this long without a new attempt,
#: so an issuer outage does not turn every request into another request to the issuer.
FAILURE_BACKOFF_SECONDS = 1.0


class KeySource(Protocol):
    """Anything that can hand out the issuer's public key for a `kid`."""

    async def get(self, kid: str) -> PyJWK: ...


class JwksCache:
    """Fetches a JWKS over HTTP, keeps the parsed keys, and refetches only for an unknown `kid`.

    Keys are parsed into `PyJWK` objects once, when fetched: parsing per request would cost far more
    than verifying. Refetches are rate-limited (`min_refetch_seconds`) and concurrent callers share
    one fetch, so a burst of tokens signed with a freshly rotated key costs the issuer one request.
    Pass `jwks_url`, or `discovery_url` to find the JWKS through OIDC discovery.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        jwks_url: str | None = None,
        discovery_url: str | None = None,
        min_refetch_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (jwks_url or discovery_url):
            raise ValueError("JwksCache needs jwks_url or discovery_url")
        self._client = client
        self._jwks_url = jwks_url
        self._discovery_url = discovery_url
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._last_error = ""
        self._lock = asyncio.Lock()
        #: How many times the JWKS was fetched: a learner can watch rotation cost exactly one.
        self.fetch_count = 0

    @classmethod
    def from_settings(cls, client: httpx.AsyncClient, settings: AuthzSettings) -> JwksCache:
        """The issuer's JWKS as the `AUTHZ_*` settings say: a fixed URL, or found through discovery."""
        return cls(
            client,
            jwks_url=settings.jwks_url,
            discovery_url=None if settings.jwks_url else settings.discovery_url,
            min_refetch_seconds=settings.jwks_min_refetch_seconds,
        )

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    async def get(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)  # another caller may have refetched while we waited
            if key is None and self._failed_recently():
                raise KeySetUnavailable(self._last_error)
            if key is None and self._may_refetch():
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(f"no key with kid {kid!r} in the issuer's JWKS")
        return key

    async def warm(self) -> None:
        """Fetch the key set now (at start-up) so the first request does not pay for it."""
        async with self._lock:
            try:
                await self._refresh()
            except KeySetUnavailable as exc:
                self._failed_at = None  # the first request tries again at once
                log.warning("JWKS not fetched at start-up, will retry on first use: %s", exc)

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refetch

    def _failed_recently(self) -> bool:
        return self._failed_at is not None and self._clock() - self._failed_at < FAILURE_BACKOFF_SECONDS

    async def _refresh(self) -> None:
        try:
            url = self._jwks_url or await self._jwks_url_from_discovery()
            response = await self._client.get(url)
            response.raise_for_status()
            body = response.json()
            if not isinstance(body, dict):
                raise ValueError("the JWKS is not a JSON object")
            key_set = PyJWKSet.from_dict(body)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, PyJWKError, PyJWKSetError) as exc:
            self._failed_at = self._clock()
            self._last_error = f"could not fetch the issuer's JWKS: {type(exc).__name__}"
            raise KeySetUnavailable(self._last_error) from exc
        self._fetched_at = self._clock()
        self._failed_at = None
        self.fetch_count += 1
        self._keys = {k.key_id: k for k in key_set.keys if k.key_id}
        log.info("jwks fetched", extra={"jwks_fetch_count": self.fetch_count, "kids": self.kids})

    async def _jwks_url_from_discovery(self) -> str:
        assert self._discovery_url is not None
        self._jwks_url = await discover_endpoint(self._client, self._discovery_url, "jwks_uri")
        return self._jwks_url


class StaticKeySource:
    """A fixed set of keys, for the issuer itself (it holds its keys) and for tests."""

    def __init__(self, keys: dict[str, PyJWK]) -> None:
        self.keys = keys

    async def get(self, kid: str) -> PyJWK:
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKey(f"no key with kid {kid!r}") from None

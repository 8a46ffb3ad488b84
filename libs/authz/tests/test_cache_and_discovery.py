"""The two small shared pieces: the bounded expiring cache and OIDC discovery."""

from __future__ import annotations

import httpx
import pytest

from authz import DiscoveryError, ExpiringCache, discover_endpoint


class TestExpiringCache:
    def test_an_entry_lives_until_its_deadline(self) -> None:
        cache: ExpiringCache[str, int] = ExpiringCache(10)
        cache.put("a", 1, deadline=100.0)

        assert cache.get("a", now=99.0) == 1
        assert cache.get("a", now=100.0) is None
        assert len(cache) == 0  # dropped when found expired

    def test_fresh_for_asks_for_life_left(self) -> None:
        cache: ExpiringCache[str, int] = ExpiringCache(10)
        cache.put("a", 1, deadline=100.0)

        assert cache.get("a", now=80.0, fresh_for=10) == 1
        assert cache.get("a", now=91.0, fresh_for=10) is None

    def test_the_least_recently_used_goes_first_when_full(self) -> None:
        cache: ExpiringCache[str, int] = ExpiringCache(2)
        cache.put("a", 1, deadline=100.0)
        cache.put("b", 2, deadline=100.0)
        assert cache.get("a", now=0.0) == 1  # a is now the most recently used
        cache.put("c", 3, deadline=100.0)

        assert (cache.get("a", now=0.0), cache.get("b", now=0.0), cache.get("c", now=0.0)) == (1, None, 3)

    def test_size_zero_caches_nothing(self) -> None:
        cache: ExpiringCache[str, int] = ExpiringCache(0)
        cache.put("a", 1, deadline=100.0)

        assert cache.get("a", now=0.0) is None


def _client(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler)


URL = "http://issuer.test/.well-known/openid-configuration"


async def test_discover_endpoint_reads_the_named_url() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"jwks_uri": "http://issuer.test/jwks"}))
    async with _client(transport) as http:
        assert await discover_endpoint(http, URL, "jwks_uri") == "http://issuer.test/jwks"


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(503), "could not be read: HTTPStatusError"),
        (httpx.Response(200, text="<html>"), "is not JSON"),
        (httpx.Response(200, json=["jwks_uri"]), "names no jwks_uri"),
        (httpx.Response(200, json={"jwks_uri": 7}), "names no jwks_uri"),
    ],
)
async def test_discover_endpoint_says_what_went_wrong(response: httpx.Response, match: str) -> None:
    async with _client(httpx.MockTransport(lambda r: response)) as http:
        with pytest.raises(DiscoveryError, match=match):
            await discover_endpoint(http, URL, "jwks_uri")

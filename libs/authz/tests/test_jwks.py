"""`JwksCache`: one fetch at first use, one rate-limited refetch per unknown `kid`, shared by concurrent callers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from jwt import PyJWK

from authz import JwksCache, KeySetUnavailable, StaticKeySource, UnknownKey

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks"


class TestFirstFetch:
    async def test_first_verify_fetches_discovery_and_jwks_once(self, make_verifier, issuer, recorder):
        verifier = make_verifier()

        await verifier.verify(issuer.token())

        assert recorder.paths == [DISCOVERY, JWKS]
        assert issuer.jwks_requests == 1
        assert verifier.keys.fetch_count == 1

    async def test_many_tokens_of_a_known_kid_do_not_refetch(self, make_verifier, issuer, recorder):
        verifier = make_verifier()

        for n in range(25):
            await verifier.verify(issuer.token(sub=f"user-{n}"))

        assert verifier.cache_entries == 25
        assert recorder.paths == [DISCOVERY, JWKS]
        assert issuer.jwks_requests == 1

    async def test_jwks_url_skips_discovery(self, make_jwks, issuer, recorder):
        keys = make_jwks(jwks_url=issuer.jwks_url)

        key = await keys.get(issuer.kid)

        assert isinstance(key, PyJWK)
        assert key.key_id == issuer.kid
        assert recorder.paths == [JWKS]

    async def test_warm_fetches_before_first_use(self, make_jwks, issuer, recorder):
        keys = make_jwks()

        await keys.warm()
        await keys.get(issuer.kid)

        assert keys.kids == [issuer.kid]
        assert issuer.jwks_requests == 1

    def test_a_url_is_required(self, http):
        with pytest.raises(ValueError, match="jwks_url or discovery_url"):
            JwksCache(http)


class TestUnknownKid:
    async def test_one_refetch_then_rate_limited(self, make_jwks, issuer, clock):
        keys = make_jwks(clock=clock, min_refetch_seconds=5)
        await keys.get(issuer.kid)
        clock.advance(60)

        with pytest.raises(UnknownKey):
            await keys.get("made-up-1")
        assert issuer.jwks_requests == 2

        clock.advance(4)
        with pytest.raises(UnknownKey):
            await keys.get("made-up-2")
        assert issuer.jwks_requests == 2

        clock.advance(1)
        with pytest.raises(UnknownKey):
            await keys.get("made-up-3")
        assert issuer.jwks_requests == 3

    async def test_unknown_kid_right_after_the_first_fetch_does_not_refetch(self, make_jwks, issuer, clock):
        keys = make_jwks(clock=clock, min_refetch_seconds=5)
        await keys.get(issuer.kid)

        with pytest.raises(UnknownKey):
            await keys.get("made-up")

        assert issuer.jwks_requests == 1

    async def test_concurrent_callers_share_one_fetch(self, make_jwks, issuer, recorder, clock):
        keys = make_jwks(clock=clock)
        await keys.get(issuer.kid)
        new_kid = issuer.add_key()
        clock.advance(60)
        recorder.delay = 0.02  # the fetch really suspends, so the other 19 callers run while it is in flight

        got = await asyncio.gather(*(keys.get(new_kid) for _ in range(20)))

        assert issuer.jwks_requests == 2
        assert {key.key_id for key in got} == {new_kid}

    async def test_concurrent_callers_share_the_first_fetch(self, make_jwks, issuer, recorder):
        keys = make_jwks()
        recorder.delay = 0.02

        await asyncio.gather(*(keys.get(issuer.kid) for _ in range(20)))

        assert recorder.paths == [DISCOVERY, JWKS]


class TestRotation:
    async def test_new_kid_verifies_after_exactly_one_refetch(self, make_verifier, make_jwks, issuer, clock):
        verifier = make_verifier(keys=make_jwks(clock=clock))
        old_kid = issuer.kid
        await verifier.verify(issuer.token())
        clock.advance(60)

        new_kid = issuer.add_key()
        claims = await verifier.verify(issuer.token(sub="after-rotation"))

        assert new_kid != old_kid
        assert claims["sub"] == "after-rotation"
        assert issuer.jwks_requests == 2
        assert verifier.keys.kids == sorted([old_kid, new_kid])

        # A fresh token (not a cache hit) of the old key still verifies, with no further fetch.
        assert await verifier.verify(issuer.token(kid=old_kid, sub="old-key"))
        assert await verifier.verify(issuer.token(sub="new-key-again"))
        assert issuer.jwks_requests == 2

    async def test_key_dropped_from_the_jwks_is_forgotten_on_refetch(self, make_jwks, issuer, clock):
        keys = make_jwks(clock=clock, min_refetch_seconds=0)
        old_kid = issuer.kid
        await keys.get(old_kid)
        issuer.add_key()
        del issuer._keys[old_kid]

        await keys.get(issuer.kid)

        with pytest.raises(UnknownKey):
            await keys.get(old_kid)


def _server_error() -> httpx.Response:
    return httpx.Response(500, text="upstream broke")


def _not_json() -> httpx.Response:
    return httpx.Response(200, text="<html>not json</html>", headers={"content-type": "text/html"})


def _no_keys() -> httpx.Response:
    return httpx.Response(200, json={"keys": []})


def _json_array() -> httpx.Response:
    return httpx.Response(200, json=[])


class TestUnavailable:
    @pytest.mark.parametrize(
        ("path", "response"),
        [
            (JWKS, _server_error),
            (JWKS, _not_json),
            (JWKS, _no_keys),
            (DISCOVERY, _server_error),
            (DISCOVERY, _not_json),
            (DISCOVERY, lambda: httpx.Response(200, json={"issuer": "http://identity.test"})),
        ],
        ids=["jwks-500", "jwks-not-json", "jwks-empty", "discovery-500", "discovery-not-json", "discovery-no-jwks_uri"],
    )
    async def test_broken_issuer(self, make_jwks, issuer, recorder, path, response):
        recorder.overrides[path] = response

        with pytest.raises(KeySetUnavailable):
            await make_jwks().get(issuer.kid)

    @pytest.mark.parametrize("path", [JWKS, DISCOVERY])
    async def test_json_that_is_not_an_object(self, make_jwks, issuer, recorder, path):
        # Regression: JSON that is not an object once escaped as AttributeError/TypeError (a 500, not a 401).
        recorder.overrides[path] = _json_array

        with pytest.raises(KeySetUnavailable):
            await make_jwks().get(issuer.kid)

    async def test_verify_reports_the_outage(self, make_verifier, issuer, recorder):
        recorder.overrides[JWKS] = _server_error

        with pytest.raises(KeySetUnavailable):
            await make_verifier().verify(issuer.token())

    async def test_recovers_once_the_interval_has_passed(self, make_jwks, issuer, recorder, clock):
        keys = make_jwks(clock=clock, min_refetch_seconds=5)
        recorder.overrides[JWKS] = _server_error
        with pytest.raises(KeySetUnavailable):
            await keys.get(issuer.kid)

        del recorder.overrides[JWKS]
        clock.advance(5)

        assert (await keys.get(issuer.kid)).key_id == issuer.kid

    async def test_a_kid_is_not_called_unknown_while_the_jwks_is_unavailable(self, make_jwks, issuer, recorder, clock):
        # Regression: a failed fetch once started the refetch interval, so the next caller was told
        # UnknownKey although no JWKS had been seen: the refusal must name the check that failed.
        keys = make_jwks(clock=clock, min_refetch_seconds=5)
        recorder.overrides[JWKS] = _server_error
        with pytest.raises(KeySetUnavailable):
            await keys.get(issuer.kid)

        clock.advance(1)
        with pytest.raises(KeySetUnavailable):
            await keys.get(issuer.kid)

    async def test_a_failed_warm_does_not_block_the_first_use(self, make_jwks, issuer, recorder, clock):
        # Regression: a failed warm() must not hold back the first request once the issuer is back.
        keys = make_jwks(clock=clock, min_refetch_seconds=5)
        recorder.overrides[JWKS] = _server_error
        await keys.warm()  # must not raise
        del recorder.overrides[JWKS]

        assert (await keys.get(issuer.kid)).key_id == issuer.kid


class TestStaticKeySource:
    async def test_hands_out_known_keys_and_refuses_others(self, issuer):
        jwk = PyJWK.from_dict(issuer.public_jwk())
        keys = StaticKeySource({issuer.kid: jwk})

        assert await keys.get(issuer.kid) is jwk
        with pytest.raises(UnknownKey):
            await keys.get("other")

"""`TokenVerifier`: a valid token yields its claims; every failed check raises the class that names it."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from typing import Any

import jwt
import pytest

from authz import (
    ACCESS_TOKEN_TYPES,
    AuthzError,
    DisallowedAlgorithm,
    ExpiredToken,
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    StaticKeySource,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from authz._verify import REQUIRED_CLAIMS


async def outcome_of(call: Awaitable[Any]) -> Any:
    """The claims, or the error the verifier raised: so that a test can say what it got instead."""
    try:
        return await call
    except AuthzError as e:
        return e


class TestValidToken:
    async def test_returns_the_claims(self, verifier, issuer):
        token = issuer.token(sub="alice-sub", scope="todos:read todos:write", username="alice")

        claims = await verifier.verify(token)

        assert claims["sub"] == "alice-sub"
        assert claims["iss"] == issuer.issuer
        assert claims["aud"] == "todos"
        assert claims["scope"] == "todos:read todos:write"
        assert claims["preferred_username"] == "alice"

    async def test_an_aud_list_naming_the_audience_is_accepted(self, verifier, issuer):
        claims = await verifier.verify(issuer.token(audience=["shares", "todos", "reminders"]))

        assert claims["aud"] == ["shares", "todos", "reminders"]

    async def test_any_of_several_trusted_issuers_is_accepted(self, make_verifier, issuer):
        verifier = make_verifier(issuer=["http://other.test", issuer.issuer])

        assert (await verifier.verify(issuer.token()))["iss"] == issuer.issuer

    @pytest.mark.parametrize("typ", sorted(ACCESS_TOKEN_TYPES | {"AT+JWT", "Application/At+Jwt"}))
    async def test_every_spelling_of_the_access_token_type_is_accepted(self, verifier, issuer, typ):
        assert await verifier.verify(issuer.token(headers={"typ": typ}))


class TestTimeClaims:
    async def test_expired_token(self, verifier, issuer):
        now = int(time.time())

        with pytest.raises(ExpiredToken):
            await verifier.verify(issuer.token(iat=now - 600, exp=now - 60))

    async def test_nbf_in_the_future(self, verifier, issuer):
        with pytest.raises(TokenNotYetValid):
            await verifier.verify(issuer.token(nbf=int(time.time()) + 60))

    async def test_iat_in_the_future(self, verifier, issuer):
        now = int(time.time())

        with pytest.raises(TokenNotYetValid):
            await verifier.verify(issuer.token(iat=now + 60, exp=now + 600))

    async def test_iat_in_the_future_within_the_leeway_is_accepted(self, make_verifier, issuer):
        now = int(time.time())

        assert await make_verifier(leeway_seconds=10).verify(issuer.token(iat=now + 3, exp=now + 600))

    async def test_expired_5s_ago_passes_with_leeway_10(self, make_verifier, issuer):
        now = int(time.time())
        token = issuer.token(iat=now - 300, exp=now - 5)

        assert (await make_verifier(leeway_seconds=10).verify(token))["exp"] == now - 5

    async def test_expired_5s_ago_fails_with_leeway_0(self, make_verifier, issuer):
        now = int(time.time())
        token = issuer.token(iat=now - 300, exp=now - 5)

        with pytest.raises(ExpiredToken):
            await make_verifier(leeway_seconds=0).verify(token)

    async def test_expiry_follows_the_injected_clock(self, make_verifier, issuer, clock):
        # Regression: exp/nbf were once judged by PyJWT's wall clock, not the verifier's clock.
        verifier = make_verifier(clock=clock)
        token = issuer.token(lifetime=60)
        clock.advance(3600)

        with pytest.raises(ExpiredToken):
            await verifier.verify(token)


class TestAudienceAndIssuer:
    async def test_wrong_audience(self, verifier, issuer):
        outcome = await outcome_of(verifier.verify(issuer.token(audience="billing")))

        assert isinstance(outcome, WrongAudience), f"a token for another audience was accepted by todos: {outcome}"

    async def test_aud_list_without_the_audience(self, verifier, issuer):
        with pytest.raises(WrongAudience):
            await verifier.verify(issuer.token(audience=["billing", "shares"]))

    async def test_wrong_issuer(self, verifier, issuer):
        with pytest.raises(WrongIssuer):
            await verifier.verify(issuer.token(iss="http://evil.test"))

    async def test_issuer_with_a_trailing_slash_is_not_the_issuer(self, verifier, issuer):
        with pytest.raises(WrongIssuer):
            await verifier.verify(issuer.token(iss=issuer.issuer + "/"))


class TestRequiredClaims:
    @pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
    async def test_each_missing_claim_is_named(self, verifier, issuer, claim):
        token = issuer.sign(issuer.claims(drop=[claim]))

        with pytest.raises(MissingClaim) as refused:
            await verifier.verify(token)

        assert repr(claim) in refused.value.detail

    def test_the_required_claims_are_the_rfc_9068_set(self):
        assert set(REQUIRED_CLAIMS) == {"iss", "sub", "aud", "exp", "iat", "jti"}


class TestAlgorithm:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE"])
    async def test_unsigned_token_is_refused_before_any_key_is_fetched(self, verifier, issuer, forger, recorder, alg):
        token = forger.compact({"alg": alg, "typ": "at+jwt", "kid": issuer.kid}, issuer.claims())
        assert token.endswith(".")

        outcome = await outcome_of(verifier.verify(token))

        assert isinstance(outcome, DisallowedAlgorithm), f"a token with alg {alg!r} is no longer refused: {outcome}"

        assert recorder.paths == []

    @pytest.mark.parametrize("secret", ["pem", "jwk"])
    async def test_hs256_signed_with_the_public_key_is_refused(self, verifier, issuer, forger, secret):
        # Key confusion: an attacker downloads the public key and uses it as an HMAC secret.
        material = issuer.public_pem() if secret == "pem" else json.dumps(issuer.public_jwk()).encode()
        token = forger.hs256({"alg": "HS256", "typ": "at+jwt", "kid": issuer.kid}, issuer.claims(), material)

        with pytest.raises(DisallowedAlgorithm):
            await verifier.verify(token)

    async def test_hs256_is_refused_even_when_allowlisted(self, make_verifier, issuer, forger):
        # Defence in depth: TokenVerifier built by hand (no AuthzSettings validation) with HS256 allowed.
        verifier = make_verifier(algorithms=["ES256", "HS256"])
        token = forger.hs256({"alg": "HS256", "typ": "at+jwt", "kid": issuer.kid}, issuer.claims(), issuer.public_pem())

        with pytest.raises(InvalidSignature):
            await verifier.verify(token)

    async def test_rs256_token_naming_the_ec_key_is_refused(self, make_verifier, issuer, forger):
        verifier = make_verifier(algorithms=["ES256", "RS256"])
        token = forger.sign(
            forger.rsa_key(), issuer.claims(), alg="RS256", headers={"kid": issuer.kid, "typ": "at+jwt"}
        )

        with pytest.raises(InvalidSignature):
            await verifier.verify(token)

    async def test_algorithm_outside_the_allowlist(self, make_verifier, issuer):
        with pytest.raises(DisallowedAlgorithm):
            await make_verifier(algorithms=["RS256"]).verify(issuer.token())

    async def test_non_string_alg_is_refused_as_a_bad_token(self, verifier, issuer, forger):
        # Regression: an unhashable `alg` (a JSON list) once raised TypeError: a 500, not a 401.
        token = forger.compact({"alg": ["ES256"], "typ": "at+jwt", "kid": issuer.kid}, issuer.claims(), b"sig")

        with pytest.raises((DisallowedAlgorithm, MalformedToken)):
            await verifier.verify(token)


class TestSignature:
    async def test_signature_by_another_key_with_the_issuers_kid(self, verifier, issuer, forger):
        token = forger.sign(forger.ec_key(), issuer.claims(), alg="ES256", headers={"kid": issuer.kid, "typ": "at+jwt"})

        with pytest.raises(InvalidSignature):
            await verifier.verify(token)

    async def test_tampered_payload(self, verifier, issuer):
        header, payload, signature = issuer.token().split(".")
        middle = len(payload) // 2
        swapped = "B" if payload[middle] == "A" else "A"
        tampered = ".".join([header, payload[:middle] + swapped + payload[middle + 1 :], signature])

        with pytest.raises((InvalidSignature, MalformedToken)):
            await verifier.verify(tampered)

    async def test_claims_swapped_under_a_valid_signature(self, verifier, issuer, forger):
        header, _, signature = issuer.token(sub="alice").split(".")
        forged = ".".join([header, forger.b64url(issuer.claims(sub="mallory")), signature])

        with pytest.raises(InvalidSignature):
            await verifier.verify(forged)

    async def test_kid_not_in_the_jwks(self, verifier, issuer):
        with pytest.raises(UnknownKey):
            await verifier.verify(issuer.sign(issuer.claims(), headers={"kid": "no-such-kid", "typ": "at+jwt"}))


class TestHeader:
    async def test_typ_jwt_is_not_an_access_token(self, verifier, issuer):
        with pytest.raises(WrongTokenType):
            await verifier.verify(issuer.token(headers={"typ": "JWT"}))

    async def test_id_token_without_typ_is_not_an_access_token(self, verifier, issuer):
        token = issuer.token(headers={"typ": None})
        assert "typ" not in jwt.get_unverified_header(token)

        with pytest.raises(WrongTokenType):
            await verifier.verify(token)

    async def test_missing_kid(self, verifier, issuer):
        with pytest.raises(MalformedToken):
            await verifier.verify(issuer.sign(issuer.claims(), headers={"typ": "at+jwt"}))

    async def test_non_string_kid_is_refused_as_a_bad_token(self, verifier, issuer, forger):
        # Regression: PyJWT raises a plain InvalidTokenError for a non-string kid; it once escaped as a 500.
        token = forger.compact({"alg": "ES256", "typ": "at+jwt", "kid": 123}, issuer.claims(), b"sig")

        with pytest.raises(MalformedToken):
            await verifier.verify(token)

    async def test_unsupported_crit_header_is_refused_as_a_bad_token(self, verifier, issuer, forger):
        # Regression, same cause: `crit` naming an unsupported extension.
        header = {"alg": "ES256", "typ": "at+jwt", "kid": issuer.kid, "crit": ["exp"]}
        token = forger.compact(header, issuer.claims(), b"sig")

        with pytest.raises(MalformedToken):
            await verifier.verify(token)

    @pytest.mark.parametrize(
        "token",
        ["garbage", "", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9", "eyJhbGciOiJFUzI1NiJ9.e30", "W10.e30.c2ln"],
    )
    async def test_garbage(self, verifier, token):
        with pytest.raises(MalformedToken):
            await verifier.verify(token)


class TestTokenCache:
    async def test_a_repeated_token_is_served_from_the_cache(self, verifier, issuer):
        token = issuer.token()
        first = await verifier.verify(token)
        verifier.keys = StaticKeySource({})  # any lookup now fails with UnknownKey

        assert await verifier.verify(token) == first
        assert verifier.cache_entries == 1
        with pytest.raises(UnknownKey):
            await verifier.verify(issuer.token())

    async def test_an_expired_entry_is_not_served(self, make_verifier, issuer, clock):
        verifier = make_verifier(clock=clock, leeway_seconds=10)
        token = issuer.token(lifetime=60)
        await verifier.verify(token)
        verifier.keys = StaticKeySource({})

        clock.advance(60)  # past exp, within the leeway: still served
        assert await verifier.verify(token)

        clock.advance(11)  # past exp + leeway
        with pytest.raises(UnknownKey):
            await verifier.verify(token)
        assert verifier.cache_entries == 0

    async def test_the_bound_evicts_the_oldest_entry(self, make_verifier, issuer):
        verifier = make_verifier(cache_size=2)
        oldest, middle, newest = issuer.token(), issuer.token(), issuer.token()
        for token in (oldest, middle, newest):
            await verifier.verify(token)
        verifier.keys = StaticKeySource({})

        assert verifier.cache_entries == 2
        assert await verifier.verify(middle)
        assert await verifier.verify(newest)
        with pytest.raises(UnknownKey):
            await verifier.verify(oldest)

    async def test_size_zero_turns_the_cache_off(self, make_verifier, issuer):
        verifier = make_verifier(cache_size=0)
        token = issuer.token()
        await verifier.verify(token)
        verifier.keys = StaticKeySource({})

        assert verifier.cache_entries == 0
        with pytest.raises(UnknownKey):
            await verifier.verify(token)

    async def test_a_refused_token_is_not_cached(self, verifier, issuer):
        with pytest.raises(WrongAudience):
            await verifier.verify(issuer.token(audience="billing"))

        assert verifier.cache_entries == 0

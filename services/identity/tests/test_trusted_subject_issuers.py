"""RFC 8693 exchange of a token from a trusted foreign issuer: the gateway's internal token in `reissue`.

`shares` holds only the gateway's internal token for alice (`iss` = the gateway, `aud` = shares); it
exchanges that for a delegated token for todos. Identity verifies it with the gateway's JWKS, and only
because `IDENTITY_TRUSTED_SUBJECT_ISSUERS` names the gateway.
"""

from __future__ import annotations

import tomllib

import jwt
import pytest

from authz.testing import FakeIssuer
from identity.settings import DEMO_REALM

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
GATEWAY = "http://gateway.test"
ALICE = next(u["id"] for u in tomllib.loads(DEMO_REALM.read_text())["users"] if u["username"] == "alice")


@pytest.fixture
def gateway() -> FakeIssuer:
    return FakeIssuer(GATEWAY)


@pytest.fixture
def trusting(make_settings, make_client, gateway):
    """An identity that trusts the gateway's tokens as subject tokens (its JWKS through the fake transport)."""
    settings = make_settings(trusted_subject_issuers={GATEWAY: f"{GATEWAY}/jwks"})
    with make_client(settings, transport=gateway.transport) as client:
        yield client


def _internal(gateway: FakeIssuer, **claims) -> str:
    values = {"sub": ALICE, "audience": "shares", "scope": "todos:read todos:share", "lifetime": 30} | claims
    return gateway.token(**values)


def _exchange(client, basic, subject_token: str):
    data = {"grant_type": GRANT, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN,
            "audience": "todos", "scope": "todos:read"}  # fmt: skip
    return client.post("/token", data=data, auth=basic("shares"))


def test_an_internal_token_is_exchanged_for_a_delegated_token(trusting, basic, gateway, decode):
    subject = _internal(gateway)

    response = _exchange(trusting, basic, subject)

    assert response.status_code == 200, response.text
    _, claims = decode(trusting, response.json()["access_token"], audience="todos")
    assert claims["iss"] != GATEWAY
    assert (claims["sub"], claims["aud"], claims["act"]) == (ALICE, "todos", {"sub": "shares"})
    assert claims["scope"] == "todos:read"
    assert claims["exp"] <= jwt.decode(subject, options={"verify_signature": False})["exp"]


def test_untrusted_without_the_setting(client, basic, gateway, oauth_error):
    oauth_error(_exchange(client, basic, _internal(gateway)), "invalid_request")


@pytest.mark.parametrize(
    "forge",
    [
        lambda gw: FakeIssuer(GATEWAY).token(sub=ALICE, audience="shares", scope="todos:read"),  # another key
        lambda gw: _internal(gw, audience="todos"),  # not meant for shares
        lambda gw: _internal(gw, lifetime=-60),  # expired
        lambda gw: _internal(gw, sub="no-such-user"),
    ],
    ids=["foreign-key", "not-for-shares", "expired", "unknown-user"],
)
def test_a_bad_internal_token_is_refused(trusting, basic, gateway, oauth_error, forge):
    oauth_error(_exchange(trusting, basic, forge(gateway)), "invalid_request")


def test_identitys_own_tokens_still_exchange(trusting, basic, password_token):
    assert _exchange(trusting, basic, password_token(trusting, "alice")).status_code == 200

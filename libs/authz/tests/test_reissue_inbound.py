"""`reissue` on the service side: a user only as the gateway's internal token for this service; services
and delegated calls only with identity's tokens. Each issuer's token is checked with that issuer's keys."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from authz import (
    Authenticator,
    AuthzSettings,
    ConfigurationError,
    Mode,
    Principal,
    StaticKeySource,
    TokenVerifier,
    install_problem_handlers,
    require,
)
from authz.testing import FakeIssuer

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

IDENTITY = "http://identity.test"
GATEWAY = "http://gateway.test"
ALICE = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"

AnyCaller = Annotated[Principal, Depends(require(operation="read"))]


@pytest.fixture
def identity() -> FakeIssuer:
    return FakeIssuer(IDENTITY)


@pytest.fixture
def gateway() -> FakeIssuer:
    return FakeIssuer(GATEWAY)


def _settings(**overrides) -> AuthzSettings:
    values = {
        "issuer": IDENTITY,
        "mode": Mode.REISSUE,
        "gateway_issuer": GATEWAY,
        "gateway_jwks_url": f"{GATEWAY}/jwks",
    }
    return AuthzSettings.for_service("todos", **(values | overrides))


@pytest.fixture
def client(identity: FakeIssuer, gateway: FakeIssuer) -> Iterator[TestClient]:
    def route(request: httpx.Request) -> httpx.Response:
        issuer = gateway if request.url.host == "gateway.test" else identity
        return issuer.handle(request)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(transport=httpx.MockTransport(route)) as http:
            authenticator = Authenticator.from_settings(_settings(), http, delegation={"shares": {"read"}})
            await authenticator.warm()
            yield {"authz": authenticator}

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app, realm="todos")

    @app.get("/whoami")
    async def whoami(principal: AnyCaller) -> dict:
        return principal.whoami()

    with TestClient(app) as test_client:
        yield test_client


def _get(client: TestClient, token: str) -> httpx.Response:
    return client.get("/whoami", headers={"Authorization": f"Bearer {token}"})


def test_a_user_comes_as_the_gateways_internal_token(client, gateway, identity):
    assert gateway.jwks_requests == 0  # not fetched at start-up: the gateway may start later

    response = _get(client, gateway.token(sub=ALICE, audience="todos", lifetime=30))

    assert response.status_code == 200, response.text
    assert response.json()["source"] == "internal_token"
    assert response.json()["subject"] == ALICE
    assert gateway.jwks_requests == 1


def test_a_users_identity_token_is_refused(client, identity):
    response = _get(client, identity.token(sub=ALICE, audience=["todos", "shares"]))

    assert response.status_code == 401
    assert "only from the gateway" in response.json()["detail"]


def test_an_internal_token_for_another_service_is_refused(client, gateway):
    response = _get(client, gateway.token(sub=ALICE, audience="shares"))

    assert response.status_code == 401
    assert response.json()["type"].endswith("wrong-audience")


def test_identity_signed_token_claiming_the_gateway_issuer_is_refused(client, identity):
    # The issuer is chosen by `iss`, then that issuer's keys must have signed it: identity's key is not the gateway's.
    response = _get(client, identity.token(sub=ALICE, audience="todos", iss=GATEWAY))

    assert response.status_code == 401


def test_gateway_signed_token_claiming_the_identity_issuer_is_refused(client, gateway):
    response = _get(client, gateway.token(sub="reminders", client_id="reminders", audience="todos", iss=IDENTITY))

    assert response.status_code == 401


def test_a_service_token_from_identity_passes(client, identity):
    response = _get(client, identity.token(sub="reminders", client_id="reminders", audience="todos", roles=()))

    assert response.status_code == 200
    assert response.json()["kind"] == "service"
    assert response.json()["source"] == "verified_token"


def test_a_delegated_token_from_identity_passes(client, identity):
    token = identity.token(sub=ALICE, client_id="shares", audience="todos", act={"sub": "shares"})

    response = _get(client, token)

    assert response.status_code == 200
    assert response.json()["actor"] == ["shares"]


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "reminders", "client_id": "reminders"},  # a service token minted by the gateway
        {"sub": ALICE, "act": {"sub": "shares"}},  # a delegated token minted by the gateway
    ],
)
def test_the_gateway_mints_users_own_tokens_only(client, gateway, claims):
    response = _get(client, gateway.token(audience="todos", **claims))

    assert response.status_code == 401
    assert "users only" in response.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"gateway_issuer": None}, "AUTHZ_GATEWAY_ISSUER"),
        ({"gateway_jwks_url": None}, "AUTHZ_GATEWAY_JWKS_URL"),
        ({"gateway_issuer": IDENTITY}, "must differ"),
    ],
)
def test_reissue_needs_the_gateway_issuer(overrides, match):
    settings = _settings(**overrides)
    with pytest.raises(ConfigurationError, match=match):
        Authenticator(settings, TokenVerifier(StaticKeySource({}), issuer=IDENTITY, audience="todos"))

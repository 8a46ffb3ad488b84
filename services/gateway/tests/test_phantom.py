"""`phantom`: clients hold opaque tokens; the gateway asks identity's introspection endpoint what each stands
for (HTTP Basic as its own client, `Accept: application/jwt`), verifies the JWT it gets back for the routed
service, and forwards that JWT — never the opaque token. Resolved JWTs are cached for at most
`phantom_cache_seconds` and never past their `exp`; a burst with one new token costs one introspection;
identity failing is a 503, identity saying "inactive" a 401.

`FakeIdentity` below stands in for identity: discovery and JWKS come from `authz.testing.FakeIssuer`, the
introspection endpoint answers from its own table of opaque handle -> JWT and records every call.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

import authz
from authz.testing import FakeIssuer
from gateway.modes.phantom import JWT_MEDIA_TYPE, PhantomResolver, looks_like_a_jwt
from gateway.settings import Settings

IDENTITY = "http://identity.test"
INTROSPECTION_URL = f"{IDENTITY}/introspect"
CLIENT_SECRET = "s3cret"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class FakeIdentity:
    """Identity for the gateway: discovery and JWKS from `issuer`, and an RFC 7662 introspection endpoint at
    `path` that answers a known, unrevoked handle with its JWT (`application/jwt`) and anything else with
    `{"active": false}`. `fail` makes introspection answer 500 (`"500"`) or not at all (`"connect"`);
    `delay` holds each answer back (so concurrent requests overlap)."""

    issuer: FakeIssuer
    path: str = "/introspect"
    tokens: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    fail: str | None = None
    delay: float = 0.0

    @property
    def calls(self) -> int:
        return len(self.requests)

    def issue(self, token: str) -> str:
        """A new opaque handle (no dots: it must not look like a JWT) standing for `token`."""
        handle = secrets.token_urlsafe(32)
        self.tokens[handle] = token
        return handle

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == self.path:
            return await self.introspect(request)
        return self.issuer.handle(request)

    async def introspect(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail == "connect":
            raise httpx.ConnectError("identity is down", request=request)
        if self.fail == "500":
            return httpx.Response(500, json={"error": "server_error"})
        handle = form(request).get("token", [""])[0]
        if handle in self.tokens and handle not in self.revoked:
            return httpx.Response(200, text=self.tokens[handle], headers={"content-type": JWT_MEDIA_TYPE})
        return httpx.Response(200, json={"active": False})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), strict_parsing=True)


def basic_credentials(request: httpx.Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    return client_id, secret


def discovery_naming_introspection(identity: FakeIdentity, endpoint: str) -> httpx.MockTransport:
    """`identity`, with its discovery document naming `endpoint` as the introspection endpoint."""

    async def handle(request: httpx.Request) -> httpx.Response:
        response = await identity.handle(request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={**response.json(), "introspection_endpoint": endpoint})
        return response

    return httpx.MockTransport(handle)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def identity(issuer: FakeIssuer) -> FakeIdentity:
    return FakeIdentity(issuer)


@pytest.fixture
def phantom_settings(make_settings) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"client_secret": SecretStr(CLIENT_SECRET), "introspection_url": INTROSPECTION_URL}
        return make_settings("phantom", **{**values, **overrides})

    return make


@pytest.fixture
async def gateway(start_gateway, phantom_settings, identity) -> httpx.AsyncClient:
    return await start_gateway(phantom_settings(), transport=identity.transport)


# --- what crosses the boundary -------------------------------------------------------------------------


async def test_the_upstream_receives_the_jwt_and_never_the_opaque_token(gateway, identity, upstream, make_token):
    jwt_token = make_token()
    handle = identity.issue(jwt_token)

    response = await gateway.get("/api/todos/1?x=1", headers=bearer(handle))

    assert response.status_code == 200, response.text
    [seen] = upstream.seen
    assert seen.all("authorization") == [f"Bearer {jwt_token}"]
    assert all(handle not in value for _, value in seen.headers)
    assert handle not in seen.raw_path + seen.query
    assert CLIENT_SECRET not in " ".join(value for _, value in seen.headers)


async def test_the_introspection_request_carries_the_gateways_credentials_and_asks_for_a_jwt(
    gateway, identity, make_token
):
    handle = identity.issue(make_token())

    assert (await gateway.get("/api/todos/1", headers=bearer(handle))).status_code == 200

    [request] = identity.requests
    assert (request.method, str(request.url)) == ("POST", INTROSPECTION_URL)
    assert basic_credentials(request) == ("gateway", CLIENT_SECRET)
    assert request.headers["accept"] == JWT_MEDIA_TYPE
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"token": [handle], "token_type_hint": ["access_token"]}


async def test_the_gateways_client_id_is_configurable(start_gateway, phantom_settings, identity, make_token):
    client = await start_gateway(phantom_settings(client_id="edge-gw"), transport=identity.transport)

    await client.get("/api/todos/1", headers=bearer(identity.issue(make_token())))

    assert basic_credentials(identity.requests[0]) == ("edge-gw", CLIENT_SECRET)


# --- the cache -----------------------------------------------------------------------------------------


async def test_a_second_request_with_the_same_token_does_not_ask_identity_again(
    gateway, identity, upstream, make_token
):
    jwt_token = make_token()
    handle = identity.issue(jwt_token)

    for path in ("/api/todos/1", "/api/todos/2", "/api/shares/1"):
        assert (await gateway.get(path, headers=bearer(handle))).status_code == 200

    assert identity.calls == 1
    assert [s.all("authorization") for s in upstream.seen] == [[f"Bearer {jwt_token}"]] * 3
    assert "gateway_introspections_total 1\n" in (await gateway.get("/metrics")).text


async def test_each_opaque_token_is_introspected_once(gateway, identity, make_token):
    alice, bob = identity.issue(make_token()), identity.issue(make_token(sub="b0b", username="bob"))

    for handle in (alice, bob, alice, bob):
        assert (await gateway.get("/api/todos/1", headers=bearer(handle))).status_code == 200

    assert [form(r)["token"] for r in identity.requests] == [[alice], [bob]]
    assert "gateway_introspections_total 2\n" in (await gateway.get("/metrics")).text


async def test_a_revoked_token_passes_within_the_cache_window_and_not_after(
    start_gateway, phantom_settings, identity, upstream, make_token, problem
):
    client = await start_gateway(phantom_settings(phantom_cache_seconds=0.3), transport=identity.transport)
    handle = identity.issue(make_token())
    assert (await client.get("/api/todos/1", headers=bearer(handle))).status_code == 200

    identity.revoked.add(handle)
    assert (await client.get("/api/todos/2", headers=bearer(handle))).status_code == 200
    assert identity.calls == 1
    await asyncio.sleep(0.4)
    response = await client.get("/api/todos/3", headers=bearer(handle))

    problem(response, 401, "inactive-token")
    assert identity.calls == 2
    assert [s.path for s in upstream.seen] == ["/todos/1", "/todos/2"]


async def test_with_no_cache_window_every_request_asks_identity(
    start_gateway, phantom_settings, identity, make_token, problem
):
    client = await start_gateway(phantom_settings(phantom_cache_seconds=0), transport=identity.transport)
    handle = identity.issue(make_token())

    assert (await client.get("/api/todos/1", headers=bearer(handle))).status_code == 200
    identity.revoked.add(handle)

    problem(await client.get("/api/todos/1", headers=bearer(handle)), 401, "inactive-token")
    assert identity.calls == 2


async def test_a_cached_jwt_is_reused_for_max_age_and_no_longer(identity, make_token):
    clock = Clock(1_000_000.0)
    handle = identity.issue(make_token())  # exp: 300 s from the real now, far beyond the fake clock's window
    async with httpx.AsyncClient(transport=identity.transport) as http:
        resolver = PhantomResolver(http, introspection_url=INTROSPECTION_URL, client_id="gateway",
                                   client_secret=CLIENT_SECRET, max_age_seconds=10, clock=clock)  # fmt: skip

        await resolver.resolve(handle)
        clock.now += 9.9
        await resolver.resolve(handle)
        assert resolver.introspections == 1
        clock.now += 0.1
        await resolver.resolve(handle)

    assert resolver.introspections == identity.calls == 2


async def test_a_cached_jwt_never_outlives_its_exp(identity, make_token):
    clock = Clock(1_000_000.0)
    short_lived = make_token(exp=int(clock.now) + 5)
    handle = identity.issue(short_lived)
    async with httpx.AsyncClient(transport=identity.transport) as http:
        resolver = PhantomResolver(http, introspection_url=INTROSPECTION_URL, client_id="gateway",
                                   client_secret=CLIENT_SECRET, max_age_seconds=60, clock=clock)  # fmt: skip

        assert await resolver.resolve(handle) == short_lived
        clock.now += 4.9
        assert await resolver.resolve(handle) == short_lived
        assert resolver.introspections == 1
        clock.now += 0.1  # at exp: the JWT is no longer valid, so the cache must not hand it out
        identity.revoked.add(handle)

        with pytest.raises(authz.InactiveToken):
            await resolver.resolve(handle)

    assert resolver.introspections == identity.calls == 2


async def test_a_resolved_value_that_is_not_a_jwt_is_not_cached(identity):
    handle = identity.issue("not-a-jwt")
    async with httpx.AsyncClient(transport=identity.transport) as http:
        resolver = PhantomResolver(http, introspection_url=INTROSPECTION_URL, client_id="gateway",
                                   client_secret=CLIENT_SECRET, max_age_seconds=60)  # fmt: skip

        assert await resolver.resolve(handle) == "not-a-jwt"
        assert await resolver.resolve(handle) == "not-a-jwt"

    assert identity.calls == 2


async def test_concurrent_first_requests_with_one_new_token_share_one_introspection(
    gateway, identity, upstream, make_token
):
    jwt_token = make_token()
    handle = identity.issue(jwt_token)
    identity.delay = 0.05

    responses = await asyncio.gather(*(gateway.get(f"/api/todos/{i}", headers=bearer(handle)) for i in range(5)))

    assert [r.status_code for r in responses] == [200] * 5
    assert identity.calls == 1
    assert sorted(s.path for s in upstream.seen) == [f"/todos/{i}" for i in range(5)]
    assert {s.header("authorization") for s in upstream.seen} == {f"Bearer {jwt_token}"}


async def test_concurrent_requests_share_a_failed_introspection_too(gateway, identity, upstream, make_token, problem):
    handle = identity.issue(make_token())
    identity.delay, identity.fail = 0.05, "500"

    responses = await asyncio.gather(*(gateway.get("/api/todos/1", headers=bearer(handle)) for _ in range(5)))

    for response in responses:
        problem(response, 503, "issuer-unavailable")
    assert identity.calls == 1
    assert upstream.seen == []


async def test_a_cancelled_first_caller_does_not_cancel_the_others_waiting(identity, make_token):
    jwt_token = make_token()
    handle = identity.issue(jwt_token)
    identity.delay = 0.1
    async with httpx.AsyncClient(transport=identity.transport) as http:
        resolver = PhantomResolver(http, introspection_url=INTROSPECTION_URL, client_id="gateway",
                                   client_secret=CLIENT_SECRET, max_age_seconds=60)  # fmt: skip
        first = asyncio.create_task(resolver.resolve(handle))
        await asyncio.sleep(0.02)
        assert identity.calls == 1  # the first caller's introspection is under way
        second = asyncio.create_task(resolver.resolve(handle))
        await asyncio.sleep(0.02)  # the second caller now waits on it

        first.cancel()  # as when the first client goes away
        results = await asyncio.gather(first, second, return_exceptions=True)

    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1] == jwt_token


# --- refusals ------------------------------------------------------------------------------------------


async def test_an_inactive_token_is_a_401_with_a_bearer_challenge(gateway, identity, upstream, problem):
    response = await gateway.get("/api/todos/1", headers=bearer("never-issued-by-identity"))

    problem(response, 401, "inactive-token")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="gateway"')
    assert 'error="invalid_token"' in challenge
    assert identity.calls == 1
    assert upstream.seen == []


async def test_a_revoked_token_is_refused_on_its_first_use(gateway, identity, upstream, make_token, problem):
    handle = identity.issue(make_token())
    identity.revoked.add(handle)

    problem(await gateway.get("/api/todos/1", headers=bearer(handle)), 401, "inactive-token")
    assert upstream.seen == []


async def test_a_jwt_at_the_edge_is_refused_without_asking_identity(gateway, identity, upstream, token, problem):
    identity.issue(token)  # even one identity would vouch for: a JWT is never accepted from a client

    response = await gateway.get("/api/todos/1", headers=bearer(token))

    body = problem(response, 401, "invalid-token")
    assert "opaque" in body["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert identity.calls == 0
    assert upstream.seen == []


def test_a_jwt_is_told_apart_by_its_two_dots():
    assert looks_like_a_jwt("header.payload.signature")
    assert looks_like_a_jwt("..")
    assert not looks_like_a_jwt("opaque-token_0123")
    assert not looks_like_a_jwt("a.b")
    assert not looks_like_a_jwt("a.b.c.d.e")  # a JWE is not a JWS: identity decides what it is


async def test_no_token_is_a_401_without_asking_identity(gateway, identity, upstream, problem):
    response = await gateway.get("/api/todos/1")

    problem(response, 401, "missing-token")
    assert response.headers["www-authenticate"] == 'Bearer realm="gateway"'
    assert identity.calls == 0
    assert upstream.seen == []


@pytest.mark.parametrize("failure", ["500", "connect"])
async def test_identity_failing_is_a_503_not_a_401(gateway, identity, upstream, make_token, problem, failure):
    handle = identity.issue(make_token())
    identity.fail = failure

    response = await gateway.get("/api/todos/1", headers=bearer(handle))

    problem(response, 503, "issuer-unavailable")
    assert "www-authenticate" not in response.headers
    assert identity.calls == 1
    assert upstream.seen == []


async def test_a_failed_introspection_is_not_cached(gateway, identity, upstream, make_token, problem):
    handle = identity.issue(make_token())
    identity.fail = "connect"
    problem(await gateway.get("/api/todos/1", headers=bearer(handle)), 503, "issuer-unavailable")

    identity.fail = None
    response = await gateway.get("/api/todos/1", headers=bearer(handle))

    assert response.status_code == 200
    assert identity.calls == 2
    assert len(upstream.seen) == 1


async def test_a_resolved_jwt_must_name_the_routed_service(gateway, identity, upstream, make_token, problem):
    handle = identity.issue(make_token(audience="shares"))

    response = await gateway.get("/api/todos/1", headers=bearer(handle))

    problem(response, 401, "wrong-audience")
    assert upstream.seen == []
    assert (await gateway.get("/api/shares/1", headers=bearer(handle))).status_code == 200
    assert [s.path for s in upstream.seen] == ["/shares/1"]
    assert identity.calls == 1


async def test_a_resolved_jwt_is_verified_like_any_edge_token(gateway, identity, upstream, issuer, problem):
    expired = identity.issue(issuer.token(sub="alice", audience="todos", lifetime=-120))
    forged = identity.issue(FakeIssuer(IDENTITY).token(sub="alice", audience="todos"))

    problem(await gateway.get("/api/todos/1", headers=bearer(expired)), 401, "expired-token")
    problem(await gateway.get("/api/todos/1", headers=bearer(forged)), 401, "unknown-key")
    assert upstream.seen == []


# --- configuration -------------------------------------------------------------------------------------


async def test_the_introspection_endpoint_comes_from_discovery_when_not_configured(
    start_gateway, phantom_settings, identity, upstream, make_token
):
    identity.path = "/oauth2/introspect"
    endpoint = f"{IDENTITY}{identity.path}"
    client = await start_gateway(
        phantom_settings(introspection_url=None), transport=discovery_naming_introspection(identity, endpoint)
    )
    jwt_token = make_token()

    response = await client.get("/api/todos/1", headers=bearer(identity.issue(jwt_token)))

    assert response.status_code == 200
    assert [str(r.url) for r in identity.requests] == [endpoint]
    assert upstream.seen[0].all("authorization") == [f"Bearer {jwt_token}"]


async def test_a_configured_introspection_url_wins_over_discovery(
    start_gateway, phantom_settings, identity, make_token
):
    transport = discovery_naming_introspection(identity, f"{IDENTITY}/elsewhere")
    client = await start_gateway(phantom_settings(), transport=transport)

    assert (await client.get("/api/todos/1", headers=bearer(identity.issue(make_token())))).status_code == 200
    assert [str(r.url) for r in identity.requests] == [INTROSPECTION_URL]


async def test_phantom_does_not_start_when_discovery_names_no_introspection_endpoint(
    start_gateway, phantom_settings, identity
):
    with pytest.raises(authz.ConfigurationError, match="introspection_endpoint"):
        await start_gateway(phantom_settings(introspection_url=None), transport=identity.transport)


async def test_phantom_does_not_start_without_a_client_secret(start_gateway, phantom_settings, identity):
    with pytest.raises(authz.ConfigurationError, match="GATEWAY_CLIENT_SECRET"):
        await start_gateway(phantom_settings(client_secret=None), transport=identity.transport)


async def test_phantom_reports_its_mode_and_no_jwks(gateway, problem):
    assert (await gateway.get("/readyz")).json() == {"status": "ready", "mode": "phantom"}
    problem(await gateway.get("/.well-known/jwks.json"), 404, "not-found")

"""Outbound auth: `OAuthClient` tokens (client credentials, token exchange) as `httpx.Auth`, and their errors.

One `httpx.MockTransport` plays the issuer (discovery + a token endpoint that checks HTTP Basic credentials)
and a resource server that records the `Authorization` header it receives. The clock is the `clock` fixture
(`FakeClock`); nothing reaches the network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from authz import PROBLEM_JSON, AuthzSettings, OAuthClient, OutboundAuthError, install_problem_handlers

# Same as test_fastapi.py: only the "TestClient prefers httpx2" import warning is silenced, only here.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

ISSUER = "http://identity.test"
DISCOVERY_URL = ISSUER + "/.well-known/openid-configuration"
TOKEN_URL = ISSUER + "/token"
RESOURCE = "http://api.test/todos"
CLIENT_ID = "svc"
CLIENT_SECRET = "s3cret"
USER_TOKEN = "user-access-token-eyJhbGciOiJFUzI1NiJ9.payload.sig"

GRANT_CC = "client_credentials"
GRANT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
METRIC_CC = 'authz_outbound_tokens_fetched_total{grant="client_credentials"}'
METRIC_EXCHANGE = 'authz_outbound_tokens_fetched_total{grant="urn:ietf:params:oauth:grant-type:token-exchange"}'
PROBLEM = "urn:todo-suite:problem:"


class FakeOAuthServer:
    """The issuer (discovery, token endpoint) and a resource server, behind one async MockTransport handler."""

    def __init__(self) -> None:
        self.discovery_gets = 0
        self.discovery_body: Any = {"issuer": ISSUER, "token_endpoint": TOKEN_URL}
        self.discovery_status = 200
        #: Paths the token endpoint is served at (the discovered one, and one only a `token_url` names).
        self.token_paths = {"/token", "/oauth2/token"}
        #: One entry per token request: the path, the decoded Basic credentials, the form.
        self.token_paths_hit: list[str] = []
        self.token_credentials: list[tuple[str, str] | None] = []
        self.token_forms: list[dict[str, str]] = []
        self.issued: list[str] = []
        self.expires_in: int | None = 3600
        self.token_delay = 0.0
        #: (status, JSON body) the token endpoint answers instead of a token.
        self.token_error: tuple[int, Any] | None = None
        #: A raw 200 body that replaces the token (a broken issuer).
        self.token_body_override: Any = None
        #: An exception the token endpoint raises instead of answering (unreachable issuer).
        self.token_raises: Exception | None = None
        #: Every `Authorization` header the resource server received.
        self.resource_auth: list[str | None] = []
        #: How many more resource requests get a 401, whatever their token.
        self.resource_401s = 0
        #: Tokens the resource server rejects with a 401 (revoked, or signed with a rotated-out key).
        self.revoked: set[str] = set()

    @property
    def token_requests(self) -> int:
        return len(self.token_forms)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if request.url.host == "identity.test" and request.url.path == "/.well-known/openid-configuration":
            assert request.method == "GET"
            self.discovery_gets += 1
            return httpx.Response(self.discovery_status, json=self.discovery_body)
        if request.url.host == "identity.test" and request.url.path in self.token_paths:
            return await self._token(request)
        if request.url.host == "api.test":
            return self._resource(request)
        return httpx.Response(404)

    async def _token(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        self.token_paths_hit.append(request.url.path)
        self.token_credentials.append(_basic_credentials(request.headers.get("authorization")))
        self.token_forms.append(dict(parse_qsl(request.content.decode(), keep_blank_values=True)))
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_raises is not None:
            raise self.token_raises
        if self.token_credentials[-1] != (CLIENT_ID, CLIENT_SECRET):
            return httpx.Response(
                401, json={"error": "invalid_client"}, headers={"WWW-Authenticate": 'Basic realm="identity"'}
            )
        if self.token_error is not None:
            status, body = self.token_error
            return httpx.Response(status, json=body)
        if self.token_body_override is not None:
            return httpx.Response(200, json=self.token_body_override)
        token = f"issued-token-{len(self.issued) + 1}"
        self.issued.append(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})

    def _resource(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization")
        self.resource_auth.append(header)
        token = header.removeprefix("Bearer ") if header else None
        if self.resource_401s > 0 or token in self.revoked:
            self.resource_401s = max(0, self.resource_401s - 1)
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, json={"ok": True})


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return user, password


def exchanged_entries(oauth: OAuthClient) -> int:
    """How many token-exchange results the client holds (there is no public view of the cache)."""
    return sum(1 for key in oauth._cache if key[0] == GRANT_EXCHANGE)


@pytest.fixture
def server() -> FakeOAuthServer:
    return FakeOAuthServer()


@pytest.fixture
async def outbound(server: FakeOAuthServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as client:
        yield client


@pytest.fixture
def make_oauth(outbound: httpx.AsyncClient, clock) -> Callable[..., OAuthClient]:
    """An `OAuthClient` for `svc:s3cret` on the fake issuer and clock; keyword arguments override the defaults."""

    def make(*, settings: AuthzSettings | None = None, **kwargs: Any) -> OAuthClient:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret", CLIENT_SECRET)
        kwargs.setdefault("clock", clock)
        return OAuthClient(outbound, settings or AuthzSettings(issuer=ISSUER, audience="x"), **kwargs)

    return make


@pytest.fixture
def oauth(make_oauth: Callable[..., OAuthClient]) -> OAuthClient:
    return make_oauth()


class TestClientCredentials:
    async def test_token_request_and_bearer_header(self, oauth, outbound, server):
        response = await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:due:read"))

        assert response.status_code == 200
        assert server.token_forms == [{"grant_type": GRANT_CC, "audience": "todos", "scope": "todos:due:read"}]
        assert server.token_credentials == [(CLIENT_ID, CLIENT_SECRET)]
        assert server.token_paths_hit == ["/token"]
        assert server.resource_auth == [f"Bearer {server.issued[0]}"]

    async def test_the_secret_goes_to_the_issuer_only(self, oauth, outbound, server):
        await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:due:read"))

        (header,) = server.resource_auth
        assert header is not None
        assert CLIENT_SECRET not in header
        assert all(CLIENT_SECRET not in value for value in server.token_forms[0].values())

    async def test_sequential_calls_share_one_token(self, oauth, outbound, server):
        auth = oauth.client_credentials("todos", "todos:due:read")

        for _ in range(50):
            assert (await outbound.get(RESOURCE, auth=auth)).status_code == 200

        assert server.token_requests == 1
        assert set(server.resource_auth) == {f"Bearer {server.issued[0]}"}
        assert len(server.resource_auth) == 50

    async def test_new_auth_objects_share_the_client_cache(self, oauth, outbound, server):
        for _ in range(5):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:due:read"))

        assert server.token_requests == 1

    async def test_concurrent_calls_share_one_token_request(self, oauth, outbound, server):
        server.token_delay = 0.05
        auth = oauth.client_credentials("todos", "todos:due:read")

        responses = await asyncio.gather(*(outbound.get(RESOURCE, auth=auth) for _ in range(20)))

        assert [r.status_code for r in responses] == [200] * 20
        assert server.token_requests == 1
        assert server.resource_auth == [f"Bearer {server.issued[0]}"] * 20

    async def test_each_audience_and_scope_has_its_own_token(self, oauth, outbound, server):
        pairs = [("todos", "todos:read"), ("todos", "todos:write"), ("shares", "todos:read")]

        for _ in range(3):
            for audience, scope in pairs:
                await outbound.get(RESOURCE, auth=oauth.client_credentials(audience, scope))

        assert server.token_requests == 3
        assert [(f["audience"], f["scope"]) for f in server.token_forms] == pairs
        assert len(set(server.issued)) == 3
        # Each pair kept getting its own token on the later rounds.
        assert server.resource_auth[3:6] == [f"Bearer {t}" for t in server.issued]

    async def test_refreshed_margin_seconds_before_expiry(self, make_oauth, outbound, server, clock):
        server.expires_in = 100
        oauth = make_oauth(refresh_margin_seconds=30)
        auth = oauth.client_credentials("todos", "todos:read")

        await outbound.get(RESOURCE, auth=auth)
        clock.advance(69)
        await outbound.get(RESOURCE, auth=auth)

        assert server.token_requests == 1

        clock.advance(2)  # 71 s: less than the 30 s margin left
        await outbound.get(RESOURCE, auth=auth)

        assert server.token_requests == 2
        assert server.resource_auth[-1] == f"Bearer {server.issued[1]}"

    async def test_default_margin_is_30_seconds(self, oauth, outbound, server, clock):
        server.expires_in = 100
        auth = oauth.client_credentials("todos", "todos:read")

        await outbound.get(RESOURCE, auth=auth)
        clock.advance(69)
        await outbound.get(RESOURCE, auth=auth)
        assert server.token_requests == 1
        clock.advance(2)
        await outbound.get(RESOURCE, auth=auth)
        assert server.token_requests == 2

    async def test_missing_expires_in_counts_as_60_seconds(self, oauth, outbound, server, clock):
        server.expires_in = None
        auth = oauth.client_credentials("todos", "todos:read")

        await outbound.get(RESOURCE, auth=auth)
        clock.advance(29)
        await outbound.get(RESOURCE, auth=auth)
        assert server.token_requests == 1
        clock.advance(2)
        await outbound.get(RESOURCE, auth=auth)
        assert server.token_requests == 2

    async def test_metrics_count_tokens_per_grant(self, oauth, outbound, server):
        assert oauth.metrics() == {METRIC_CC: 0, METRIC_EXCHANGE: 0}

        for _ in range(3):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))
            await outbound.get(RESOURCE, auth=oauth.client_credentials("shares", "shares:read"))
            await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))

        assert oauth.metrics() == {METRIC_CC: 2, METRIC_EXCHANGE: 1}
        assert oauth.fetched == {GRANT_CC: 2, GRANT_EXCHANGE: 1}

    async def test_a_refused_token_is_not_counted(self, oauth, outbound, server):
        server.token_error = (400, {"error": "invalid_scope"})

        with pytest.raises(OutboundAuthError):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert oauth.metrics() == {METRIC_CC: 0, METRIC_EXCHANGE: 0}

    def test_client_id_is_exposed(self, oauth):
        assert oauth.client_id == CLIENT_ID


class TestTokenExchange:
    async def test_token_exchange_request(self, oauth, outbound, server):
        response = await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))

        assert response.status_code == 200
        assert server.token_forms == [
            {
                "grant_type": GRANT_EXCHANGE,
                "subject_token": USER_TOKEN,
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "requested_token_type": ACCESS_TOKEN_TYPE,
                "audience": "todos",
                "scope": "todos:read",
            }
        ]
        assert server.token_credentials == [(CLIENT_ID, CLIENT_SECRET)]
        # The callee sees the exchanged token, never the user's own.
        assert server.resource_auth == [f"Bearer {server.issued[0]}"]

    async def test_same_user_token_twice_is_one_exchange(self, oauth, outbound, server):
        for _ in range(2):
            await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))

        assert server.token_requests == 1
        assert server.resource_auth == [f"Bearer {server.issued[0]}"] * 2
        # The cache is keyed by a hash: the user's token itself is not kept as a key.
        assert all(USER_TOKEN not in part for key in oauth._cache for part in key)

    async def test_two_user_tokens_are_two_exchanges(self, oauth, outbound, server):
        await outbound.get(RESOURCE, auth=oauth.token_exchange("user-token-a", "todos", "todos:read"))
        await outbound.get(RESOURCE, auth=oauth.token_exchange("user-token-b", "todos", "todos:read"))
        await outbound.get(RESOURCE, auth=oauth.token_exchange("user-token-a", "todos", "todos:read"))

        assert server.token_requests == 2
        assert [f["subject_token"] for f in server.token_forms] == ["user-token-a", "user-token-b"]
        assert server.resource_auth == [f"Bearer {t}" for t in (*server.issued, server.issued[0])]

    async def test_same_user_token_other_scope_is_another_exchange(self, oauth, outbound, server):
        await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))
        await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:write"))

        assert server.token_requests == 2
        assert [f["scope"] for f in server.token_forms] == ["todos:read", "todos:write"]

    async def test_same_user_token_other_audience_is_another_exchange(self, oauth, outbound, server):
        await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))
        await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "shares", "todos:read"))

        assert server.token_requests == 2

    async def test_exchange_and_client_credentials_do_not_share_a_token(self, oauth, outbound, server):
        await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))
        await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))

        assert [f["grant_type"] for f in server.token_forms] == [GRANT_CC, GRANT_EXCHANGE]
        assert server.resource_auth == [f"Bearer {t}" for t in server.issued]

    async def test_concurrent_exchanges_of_one_user_token_share_one_request(self, oauth, outbound, server):
        server.token_delay = 0.05
        auth = oauth.token_exchange(USER_TOKEN, "todos", "todos:read")

        await asyncio.gather(*(outbound.get(RESOURCE, auth=auth) for _ in range(10)))

        assert server.token_requests == 1

    async def test_exchanged_token_is_refreshed_before_expiry(self, oauth, outbound, server, clock):
        server.expires_in = 100
        auth = oauth.token_exchange(USER_TOKEN, "todos", "todos:read")

        await outbound.get(RESOURCE, auth=auth)
        clock.advance(69)
        await outbound.get(RESOURCE, auth=auth)
        assert server.token_requests == 1
        clock.advance(2)
        await outbound.get(RESOURCE, auth=auth)
        assert server.token_requests == 2


class TestExchangeCacheBound:
    async def test_at_most_exchange_cache_size_entries_are_kept(self, make_oauth, outbound, server):
        oauth = make_oauth(exchange_cache_size=3)

        for n in range(10):
            await outbound.get(RESOURCE, auth=oauth.token_exchange(f"user-token-{n}", "todos", "todos:read"))

        assert server.token_requests == 10
        assert exchanged_entries(oauth) <= 3
        # The newest ones are the ones still cached ...
        for n in (7, 8, 9):
            await outbound.get(RESOURCE, auth=oauth.token_exchange(f"user-token-{n}", "todos", "todos:read"))
        assert server.token_requests == 10
        # ... the oldest were evicted and are exchanged again.
        await outbound.get(RESOURCE, auth=oauth.token_exchange("user-token-0", "todos", "todos:read"))
        assert server.token_requests == 11
        assert exchanged_entries(oauth) <= 3

    async def test_eviction_does_not_drop_client_credentials(self, make_oauth, outbound, server):
        oauth = make_oauth(exchange_cache_size=3)
        await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        for n in range(10):
            await outbound.get(RESOURCE, auth=oauth.token_exchange(f"user-token-{n}", "todos", "todos:read"))
        await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert server.token_forms.count({"grant_type": GRANT_CC, "audience": "todos", "scope": "todos:read"}) == 1

    async def test_expired_entries_are_dropped(self, make_oauth, outbound, server, clock):
        server.expires_in = 100
        oauth = make_oauth(exchange_cache_size=10)
        for n in range(5):
            await outbound.get(RESOURCE, auth=oauth.token_exchange(f"user-token-{n}", "todos", "todos:read"))
        assert exchanged_entries(oauth) == 5

        clock.advance(101)
        await outbound.get(RESOURCE, auth=oauth.token_exchange("user-token-new", "todos", "todos:read"))

        assert exchanged_entries(oauth) == 1

    async def test_refused_exchanges_leave_no_lock_behind(self, make_oauth, outbound, server):
        # Each distinct subject token gets an asyncio.Lock; a refused exchange must not leave its lock
        # behind, or a stream of refused user tokens grows the client without bound.
        oauth = make_oauth(exchange_cache_size=3)
        server.token_error = (400, {"error": "invalid_target"})

        for n in range(10):
            with pytest.raises(OutboundAuthError):
                await outbound.get(RESOURCE, auth=oauth.token_exchange(f"user-token-{n}", "todos", "todos:read"))

        assert exchanged_entries(oauth) == 0
        assert len(oauth._locks) <= 3

    async def test_a_zero_cache_size_is_refused_or_caches_nothing(self, make_oauth, outbound, server):
        # Either the constructor rejects 0, or 0 means "no exchange cache": an IndexError per call is wrong.
        try:
            oauth = make_oauth(exchange_cache_size=0)
        except ValueError:
            return

        for _ in range(2):
            response = await outbound.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))
            assert response.status_code == 200


class TestDiscovery:
    async def test_discovery_is_fetched_once(self, oauth, outbound, server, clock):
        server.expires_in = 100
        for n in range(5):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", f"scope-{n}"))
            await outbound.get(RESOURCE, auth=oauth.token_exchange(f"user-{n}", "todos", "todos:read"))
        clock.advance(200)
        await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "scope-0"))

        assert server.token_requests == 11
        assert server.discovery_gets == 1
        assert set(server.token_paths_hit) == {"/token"}

    async def test_discovery_comes_from_identity_url_when_set(self, make_oauth, outbound, server):
        # `identity_url` is where this service reaches the issuer; here the same host, so discovery works.
        oauth = make_oauth(settings=AuthzSettings(issuer="http://public.example", identity_url=ISSUER, audience="x"))

        response = await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert response.status_code == 200
        assert server.discovery_gets == 1

    async def test_token_url_skips_discovery(self, make_oauth, outbound, server):
        settings = AuthzSettings(issuer=ISSUER, audience="x", token_url=ISSUER + "/oauth2/token")
        oauth = make_oauth(settings=settings)

        for n in range(3):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", f"scope-{n}"))

        assert server.discovery_gets == 0
        assert server.token_paths_hit == ["/oauth2/token"] * 3

    async def test_discovery_without_token_endpoint(self, oauth, outbound, server):
        server.discovery_body = {"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"}

        with pytest.raises(OutboundAuthError, match="discover"):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert server.token_requests == 0
        assert server.resource_auth == []

    @pytest.mark.parametrize(
        ("status", "body"),
        [(503, {"error": "down"}), (200, ["not", "an", "object"]), (200, "not json at all")],
    )
    async def test_broken_discovery(self, oauth, outbound, server, status, body):
        server.discovery_status = status
        server.discovery_body = body

        with pytest.raises(OutboundAuthError):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert server.resource_auth == []

    async def test_a_failed_discovery_is_retried(self, oauth, outbound, server):
        server.discovery_status = 503
        with pytest.raises(OutboundAuthError):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        server.discovery_status = 200
        response = await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert response.status_code == 200
        assert server.discovery_gets == 2


class TestUnauthorizedRetry:
    async def test_one_401_forces_one_new_token_and_one_retry(self, oauth, outbound, server):
        auth = oauth.client_credentials("todos", "todos:read")
        await outbound.get(RESOURCE, auth=auth)
        server.resource_401s = 1

        response = await outbound.get(RESOURCE, auth=auth)

        assert response.status_code == 200
        assert server.token_requests == 2
        first, second = server.issued
        assert server.resource_auth == [f"Bearer {first}", f"Bearer {first}", f"Bearer {second}"]

    async def test_the_refreshed_token_is_cached(self, oauth, outbound, server):
        auth = oauth.client_credentials("todos", "todos:read")
        server.resource_401s = 1
        await outbound.get(RESOURCE, auth=auth)

        await outbound.get(RESOURCE, auth=auth)

        assert server.token_requests == 2
        assert server.resource_auth[-1] == f"Bearer {server.issued[1]}"

    async def test_a_second_401_is_returned_to_the_caller(self, oauth, outbound, server):
        server.resource_401s = 5

        response = await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert response.status_code == 401
        assert len(server.resource_auth) == 2
        assert server.token_requests == 2
        assert server.resource_401s == 3

    async def test_401_retry_with_a_delegated_token(self, oauth, outbound, server):
        auth = oauth.token_exchange(USER_TOKEN, "todos", "todos:read")
        server.resource_401s = 1

        response = await outbound.get(RESOURCE, auth=auth)

        assert response.status_code == 200
        assert [f["grant_type"] for f in server.token_forms] == [GRANT_EXCHANGE] * 2
        assert server.resource_auth == [f"Bearer {t}" for t in server.issued]

    async def test_other_errors_are_not_retried(self, oauth, outbound, server):
        # The fake answers 404 for any host it does not serve: only a 401 triggers a refresh.
        response = await outbound.get("http://nowhere.test/x", auth=oauth.client_credentials("todos", "todos:read"))

        assert response.status_code == 404
        assert server.token_requests == 1

    async def test_a_burst_of_401s_costs_one_new_token(self, oauth, outbound, server):
        # The module promises "a burst of calls costs the issuer one token request". When the callee starts
        # rejecting the cached token (revoked, issuer keys rotated), every in-flight call sees a 401 at once;
        # they should share one refresh, not queue up one forced token request each.
        auth = oauth.client_credentials("todos", "todos:read")
        await outbound.get(RESOURCE, auth=auth)
        server.revoked.add(server.issued[0])
        server.token_delay = 0.05

        responses = await asyncio.gather(*(outbound.get(RESOURCE, auth=auth) for _ in range(20)))

        assert [r.status_code for r in responses] == [200] * 20
        assert server.token_requests == 2


class TestErrors:
    async def test_issuer_refuses_with_an_oauth_error(self, oauth, outbound, server):
        server.token_error = (400, {"error": "invalid_scope", "error_description": "no such scope"})

        with pytest.raises(OutboundAuthError) as caught:
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:admin"))

        assert caught.value.error == "invalid_scope"
        assert caught.value.status == 400
        assert "invalid_scope" in str(caught.value)
        assert server.resource_auth == []

    async def test_a_refused_token_is_not_cached(self, oauth, outbound, server):
        server.token_error = (400, {"error": "invalid_scope"})
        auth = oauth.client_credentials("todos", "todos:read")
        with pytest.raises(OutboundAuthError):
            await outbound.get(RESOURCE, auth=auth)

        server.token_error = None
        response = await outbound.get(RESOURCE, auth=auth)

        assert response.status_code == 200
        assert server.token_requests == 2

    async def test_wrong_client_secret(self, make_oauth, outbound, server):
        oauth = make_oauth(client_secret="wrong")

        with pytest.raises(OutboundAuthError) as caught:
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert server.token_credentials == [(CLIENT_ID, "wrong")]
        assert caught.value.error == "invalid_client"
        assert caught.value.status == 401
        assert "wrong" not in str(caught.value)

    async def test_error_without_an_oauth_error_code(self, oauth, outbound, server):
        # A JSON body without "error" (a proxy's 500, a framework's error page) has no OAuth error code.
        server.token_error = (500, {"message": "internal error"})

        with pytest.raises(OutboundAuthError) as caught:
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert caught.value.status == 500
        assert caught.value.error is None

    async def test_error_with_a_non_json_body(self, oauth, outbound, server):
        server.token_error = (502, "Bad Gateway")  # a JSON string, not an object

        with pytest.raises(OutboundAuthError) as caught:
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert caught.value.status == 502
        assert caught.value.error is None

    async def test_token_endpoint_unreachable(self, oauth, outbound, server):
        server.token_raises = httpx.ConnectError("connection refused")

        with pytest.raises(OutboundAuthError) as caught:
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        assert caught.value.status is None
        assert server.resource_auth == []

    async def test_token_endpoint_timeout(self, oauth, outbound, server):
        server.token_raises = httpx.ReadTimeout("timed out")

        with pytest.raises(OutboundAuthError):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

    async def test_a_200_without_access_token(self, oauth, outbound, server):
        # A broken issuer answering 200 without a token is still "no token": OutboundAuthError (a 502 to the
        # caller), not a KeyError that ends up as a 500.
        server.token_body_override = {"token_type": "Bearer", "expires_in": 60}

        with pytest.raises(OutboundAuthError):
            await outbound.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

    def test_a_sync_client_is_refused(self, oauth):
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200)

        with httpx.Client(transport=httpx.MockTransport(handler)) as client, pytest.raises(RuntimeError):
            client.get(RESOURCE, auth=oauth.client_credentials("todos", "todos:read"))

        assert seen == []


SECRET = "sk_live_51HxQ-very-secret-value"


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, realm="t")

    @app.get("/auth-failed")
    async def auth_failed() -> dict:
        raise OutboundAuthError(
            f"the issuer refused svc:{SECRET} exchanging {USER_TOKEN}", error="invalid_client", status=401
        )

    @app.get("/delegated")
    async def delegated() -> dict:
        # A real OAuthClient whose token exchange is refused: the error must not leak into the response.
        server = FakeOAuthServer()
        server.token_error = (400, {"error": "invalid_grant", "error_description": f"bad {USER_TOKEN}"})
        async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http:
            oauth = OAuthClient(
                http, AuthzSettings(issuer=ISSUER, audience="x"), client_id=CLIENT_ID, client_secret=SECRET
            )
            await http.get(RESOURCE, auth=oauth.token_exchange(USER_TOKEN, "todos", "todos:read"))
        return {}

    @app.get("/timeout")
    async def timeout() -> dict:
        raise httpx.ReadTimeout(f"read timed out talking to {RESOURCE} with {USER_TOKEN}")

    @app.get("/unreachable")
    async def unreachable() -> dict:
        raise httpx.ConnectError(f"connection refused by {RESOURCE} with {USER_TOKEN}")

    return app


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    with TestClient(build_app()) as client:
        yield client


class TestProblemHandlers:
    @pytest.mark.parametrize("path", ["/auth-failed", "/delegated"])
    def test_outbound_auth_error_is_a_502(self, app_client, path):
        response = app_client.get(path)

        assert response.status_code == 502
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"] == PROBLEM + "upstream-auth-failed"
        assert body["status"] == 502
        assert body["instance"] == path
        for secret in (SECRET, USER_TOKEN, "invalid_client", "invalid_grant"):
            assert secret not in response.text
        assert "www-authenticate" not in response.headers

    def test_upstream_timeout_is_a_504(self, app_client):
        response = app_client.get("/timeout")

        assert response.status_code == 504
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"] == PROBLEM + "upstream-timeout"
        assert body["status"] == 504
        assert USER_TOKEN not in response.text
        assert RESOURCE not in response.text

    def test_upstream_unreachable_is_a_502(self, app_client):
        response = app_client.get("/unreachable")

        assert response.status_code == 502
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"] == PROBLEM + "upstream-unavailable"
        assert body["status"] == 502
        assert USER_TOKEN not in response.text
        assert json.dumps(body).count("connection refused") == 0

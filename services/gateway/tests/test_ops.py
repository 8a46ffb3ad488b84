"""What is not proxied (probes, metrics, anything outside /api/), the JWKS fetched once, the lifespan."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app


def metric(text: str, name: str) -> float:
    values = [float(line.split()[1]) for line in text.splitlines() if line.split()[:1] == [name]]
    assert len(values) == 1, text
    return values[0]


async def test_healthz(client, upstream):
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert upstream.seen == []


@pytest.mark.parametrize("mode", ["trust", "passthrough", "extract"])
async def test_readyz_names_the_mode(client, mode):
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "mode": mode}


async def test_readyz_is_503_while_the_keys_are_missing(start_gateway, make_settings, problem):
    down = httpx.MockTransport(lambda request: httpx.Response(503))
    client = await start_gateway(make_settings(), transport=down)

    problem(await client.get("/readyz"), 503, "not-ready")


async def test_metrics_count_forwarded_requests(client, upstream, auth):
    before = await client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert metric(before.text, "gateway_forwarded_total") == 0

    for _ in range(3):
        await client.get("/api/todos/1", headers=auth)
    await client.get("/api/todos/1")  # refused at the edge: not forwarded
    await client.get("/api/reminders/1", headers=auth)  # unreachable: not forwarded

    after = await client.get("/metrics")
    assert metric(after.text, "gateway_forwarded_total") == 3
    assert metric(after.text, "authz_jwks_fetches_total") == 1


@pytest.mark.parametrize("path", ["/todos/abc", "/api", "/apitodos/1", "/docs-not-here", "/"])
async def test_paths_outside_api_are_not_proxied(client, upstream, auth, path):
    response = await client.get(path, headers=auth)

    assert response.status_code == 404
    assert upstream.seen == []


async def test_the_jwks_is_fetched_once_for_many_requests(client, issuer, make_token, upstream):
    tokens = [make_token(sub=f"user-{i}") for i in range(5)]

    for i in range(40):
        service = ("todos", "shares")[i % 2]
        response = await client.get(f"/api/{service}/{i}", headers={"Authorization": f"Bearer {tokens[i % 5]}"})
        assert response.status_code == 200

    assert len(upstream.seen) == 40
    assert issuer.jwks_requests == 1


async def test_nothing_connects_before_the_lifespan(issuer, make_settings):
    create_app(make_settings(), transport=issuer.transport)

    assert issuer.jwks_requests == 0


async def test_the_keys_are_fetched_at_startup(start_gateway, make_settings, issuer):
    await start_gateway(make_settings())

    assert issuer.jwks_requests == 1

"""The token boundary, in every mode: the edge token is validated for the routed service, client-sent
identity and hop-by-hop headers never reach the service, and a refused request reaches nothing."""

from __future__ import annotations

import pytest

import authz

MODES = ["trust", "passthrough", "reissue", "extract"]
ALICE_SUB = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"

#: Identity headers a client might send, in mixed case and with `_` for `-`.
SPOOFED = {
    "X-User-Id": "mallory",
    "x-roles": "admin",
    "X_Scopes": "todos:admin",
    "X-Gateway-Signature": "c2lnbmVk",
    "X-Gateway-Timestamp": "9999999999",
    "X-On-Behalf-Of": "bob",
    "X-Forwarded-Client-Cert": "By=spiffe://evil/ns/x;URI=spiffe://evil",
    "X_USER_NAME": "mallory",
    "x-user_id": "mallory-2",
    "X-ROLES_": "ignored-not-an-identity-header",
}
SPOOFED_VALUES = {v for k, v in SPOOFED.items() if authz.is_identity_header(k)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- edge validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_no_token_is_401_with_a_challenge(client, upstream, problem, mode):
    response = await client.get("/api/todos/1")

    problem(response, 401, "missing-token")
    assert response.headers["www-authenticate"] == 'Bearer realm="gateway"'
    assert upstream.seen == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scheme", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"])
async def test_no_bearer_token_is_401(client, upstream, mode, scheme):
    response = await client.get("/api/todos/1", headers={"Authorization": scheme})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="gateway"')
    assert upstream.seen == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kind", "slug"),
    [
        ("forged-same-kid", "invalid-signature"),
        ("forged-unknown-kid", "unknown-key"),
        ("expired", "expired-token"),
        ("alg-none", "disallowed-algorithm"),
        ("wrong-issuer", "wrong-issuer"),
        ("garbage", "malformed-token"),
    ],
)
async def test_a_bad_token_is_401_and_reaches_nothing(client, upstream, bad_tokens, problem, mode, kind, slug):
    token = bad_tokens[kind]

    response = await client.post("/api/todos", headers=bearer(token), json={"title": "x"})

    problem(response, 401, slug)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="gateway", error="invalid_token"'), challenge
    assert token not in response.text
    assert upstream.seen == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_token_for_another_service_is_401_wrong_audience(client, upstream, make_token, problem, mode):
    shares_only = bearer(make_token(audience="shares"))

    problem(await client.get("/api/todos/1", headers=shares_only), 401, "wrong-audience")
    assert upstream.seen == []

    assert (await client.get("/api/shares/1", headers=shares_only)).status_code == 200
    assert [s.path for s in upstream.seen] == ["/shares/1"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_gateway_audience_token_is_not_enough(client, upstream, make_token, problem, mode):
    problem(await client.get("/api/todos/1", headers=bearer(make_token(audience="gateway"))), 401, "wrong-audience")
    assert upstream.seen == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_token_for_the_routed_service_is_forwarded(client, upstream, make_token, mode):
    response = await client.get("/api/todos/1", headers=bearer(make_token(audience="todos")))

    assert response.status_code == 200
    assert [s.path for s in upstream.seen] == ["/todos/1"]


async def test_the_audience_per_service_comes_from_settings(start_gateway, make_settings, upstream, make_token):
    client = await start_gateway(make_settings(audiences={"todos": "https://todos.example"}))

    assert (await client.get("/api/todos/1", headers=bearer(make_token(audience="todos")))).status_code == 401
    ok = await client.get("/api/todos/2", headers=bearer(make_token(audience="https://todos.example")))
    assert ok.status_code == 200
    assert [s.path for s in upstream.seen] == ["/todos/2"]


async def test_two_authorization_headers_are_400(client, upstream, token, problem):
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]

    problem(await client.get("/api/todos/1", headers=headers), 400, "invalid-request")
    assert upstream.seen == []


@pytest.mark.parametrize("mode", MODES)
async def test_spoofed_identity_headers_do_not_help_a_request_without_a_token(client, upstream, mode):
    response = await client.get("/api/todos/1", headers=SPOOFED)

    assert response.status_code == 401
    assert upstream.seen == []


# --- header stripping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_client_sent_identity_headers_never_reach_the_service(client, upstream, auth, mode):
    response = await client.get("/api/todos/1", headers={**auth, **SPOOFED})

    assert response.status_code == 200
    [seen] = upstream.seen
    sent_values = {v for _, v in seen.headers}
    spoofed = SPOOFED_VALUES & sent_values
    assert not spoofed, f"the gateway forwarded a spoofed identity header: {sorted(spoofed)}"
    assert not [k for k in seen.names if "_" in k and authz.is_identity_header(k)]
    assert seen.header("x-roles_") == "ignored-not-an-identity-header"  # not an identity header: kept
    identity = {k for k in seen.names if authz.is_identity_header(k)}
    if mode == "extract":
        assert identity == {"x-user-id", "x-user-name", "x-roles", "x-scopes", "x-gateway-timestamp", "x-gateway-nonce",
                            "x-gateway-signature"}  # fmt: skip
        assert seen.all("x-user-id") == [ALICE_SUB]
        assert seen.all("x-roles") == ["user"]
        assert seen.all("x-user-name") == ["alice"]
    else:
        assert identity == set()


@pytest.mark.parametrize("mode", MODES)
async def test_hop_by_hop_request_headers_are_not_forwarded(client, upstream, auth, mode):
    headers = {
        **auth,
        "Connection": "keep-alive, X-Client-Hop",
        "X-Client-Hop": "named in Connection",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz",
        "Proxy-Connection": "keep-alive",
        "Host": "gateway.example",
        "X-End-To-End": "kept",
    }

    response = await client.get("/api/todos/1", headers=headers)

    assert response.status_code == 200
    [seen] = upstream.seen
    dropped = {"connection", "x-client-hop", "keep-alive", "te", "upgrade", "proxy-authorization",
               "proxy-connection", "transfer-encoding"}  # fmt: skip
    assert not (dropped & seen.names), dropped & seen.names
    assert seen.all("host") == [upstream.url.removeprefix("http://")]
    assert seen.header("x-end-to-end") == "kept"


@pytest.mark.parametrize("mode", MODES)
async def test_the_client_address_is_forwarded(client, upstream, auth, mode):
    await client.get("/api/todos/1", headers=auth)

    assert upstream.seen[0].all("x-forwarded-for") == ["127.0.0.1"]


@pytest.mark.parametrize("mode", MODES)
async def test_ordinary_headers_pass_unchanged(client, upstream, auth, mode):
    headers = {**auth, "Accept": "application/json", "Accept-Language": "fr", "If-None-Match": '"v1"'}

    await client.get("/api/todos/1", headers=headers)

    [seen] = upstream.seen
    assert seen.header("accept") == "application/json"
    assert seen.header("accept-language") == "fr"
    assert seen.header("if-none-match") == '"v1"'

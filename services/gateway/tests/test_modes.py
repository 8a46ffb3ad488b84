"""What each mode hands the service: the edge token itself (trust, passthrough) or a signed request and
no token (extract); the edge check every mode shares (users' own tokens from edge clients only); the
registry; and the configurations the gateway refuses to start with."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

import authz
from authz import Kind, Mode, Principal
from gateway.modes import GATEWAY_MODES, Edge, gateway_mode
from gateway.modes._base import ForwardTheToken
from gateway.modes.extract import SignTheRequest
from gateway.modes.reissue import ReissueToken

ALICE_SUB = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(seen, *, target: str, service: str = "todos", key: bytes, body: bytes = b"", method: str = "GET"):
    request = authz.SignedRequest(method=method, target=target, body=body)
    return authz.verify_identity(seen, key=key, service=service, request=request)


# --- trust and passthrough -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["trust", "passthrough"])
async def test_the_service_receives_the_same_edge_token(client, upstream, token, mode):
    response = await client.get("/api/todos/1", headers=bearer(token))

    assert response.status_code == 200
    [seen] = upstream.seen
    assert seen.all("authorization") == [f"Bearer {token}"]


@pytest.mark.parametrize("mode", ["trust", "passthrough"])
async def test_the_token_is_normalised_to_one_bearer_header(client, upstream, token, mode):
    await client.get("/api/todos/1", headers={"Authorization": f"bearer   {token}  "})

    assert upstream.seen[0].all("authorization") == [f"Bearer {token}"]


# --- the edge takes users' own tokens from edge clients, in every mode ------------------------------------


@pytest.mark.parametrize("mode", ["trust", "passthrough", "reissue", "extract"])
async def test_a_services_own_token_is_refused_at_the_edge(client, upstream, issuer, problem, mode):
    service_token = issuer.token(sub="reminders", client_id="reminders", audience="todos", roles=())

    body = problem(await client.get("/api/todos/due", headers=bearer(service_token)), 401, "not-an-edge-token")

    assert "client-credentials" in body["detail"]
    assert upstream.seen == []


@pytest.mark.parametrize("mode", ["trust", "passthrough", "reissue", "extract"])
async def test_a_delegated_token_is_refused_at_the_edge(client, upstream, make_token, problem, mode):
    delegated = make_token(audience="todos", client_id="shares", act={"sub": "shares"})

    body = problem(await client.get("/api/todos/1", headers=bearer(delegated)), 401, "not-an-edge-token")

    assert "delegated" in body["detail"]
    assert upstream.seen == []


@pytest.mark.parametrize("mode", ["passthrough", "extract"])
async def test_a_user_token_of_another_client_is_refused_at_the_edge(client, upstream, make_token, problem, mode):
    other = make_token(client_id="some-other-app")

    body = problem(await client.get("/api/todos/1", headers=bearer(other)), 401, "not-an-edge-token")

    assert "some-other-app" in body["detail"]
    assert upstream.seen == []


async def test_the_edge_clients_are_a_setting(start_gateway, make_settings, upstream, make_token):
    client = await start_gateway(make_settings(edge_clients=["web"]))

    assert (await client.get("/api/todos/1", headers=bearer(make_token(client_id="web")))).status_code == 200
    assert (await client.get("/api/todos/1", headers=bearer(make_token()))).status_code == 401


async def test_without_edge_clients_the_gateway_does_not_start(start_gateway, make_settings):
    with pytest.raises(authz.ConfigurationError, match="GATEWAY_EDGE_CLIENTS"):
        await start_gateway(make_settings(edge_clients=[]))


# --- extract -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_sends_a_signed_request_for_the_routed_service_only(
    client, upstream, make_token, extract_keys, mode
):
    token = make_token(roles=("user", "admin"), scope="todos:write todos:read")

    response = await client.post("/api/todos/1?x=1", headers=bearer(token), content=b'{"a": 1}')

    assert response.status_code == 200
    [seen] = upstream.seen
    assert seen.all("authorization") == []
    assert token not in {v for _, v in seen.headers}
    headers = seen.header_map
    kw = {"target": "/todos/1?x=1", "body": b'{"a": 1}', "method": "POST"}
    verified = signed(headers, key=extract_keys["todos"], **kw)
    assert verified.identity == authz.SignedIdentity(
        user_id=ALICE_SUB, username="alice", roles=("admin", "user"), scopes=("todos:read", "todos:write")
    )
    assert headers["x-user-id"] == ALICE_SUB
    assert headers["x-roles"] == "admin user"
    assert headers["x-gateway-nonce"] == verified.nonce
    with pytest.raises(authz.InvalidSignature):
        signed(headers, key=extract_keys["shares"], **kw)
    with pytest.raises(authz.InvalidSignature):
        signed(headers, key=extract_keys["todos"], service="shares", **kw)
    with pytest.raises(authz.InvalidSignature):
        signed({**headers, "x-roles": "admin user superuser"}, key=extract_keys["todos"], **kw)
    for changed in ({"method": "DELETE"}, {"target": "/todos/2?x=1"}, {"target": "/todos/1?x=2"}, {"body": b"{}"}):
        with pytest.raises(authz.InvalidSignature):
            signed(headers, key=extract_keys["todos"], **{**kw, **changed})


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_makes_a_new_nonce_per_request_whatever_the_request_id(client, upstream, auth, mode):
    for _ in range(3):
        await client.get("/api/todos/1", headers={**auth, "X-Request-Id": "same-id"})

    nonces = {seen.header("x-gateway-nonce") for seen in upstream.seen}
    assert len(nonces) == 3
    assert "same-id" not in nonces


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_signs_what_it_forwards_the_canonical_target(client, upstream, auth, extract_keys, mode):
    await client.get("/api/todos//a/%7e%2f/b?q=%2a", headers=auth)

    [seen] = upstream.seen
    assert seen.raw_path == "/todos/a/~%2F/b"
    assert signed(seen.header_map, key=extract_keys["todos"], target="/todos/a/~%2F/b?q=%2a").identity.user_id


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_signs_with_the_key_of_the_service_routed_to(client, upstream, auth, extract_keys, mode):
    await client.get("/api/shares/1", headers=auth)

    headers = upstream.seen[0].header_map
    assert signed(headers, key=extract_keys["shares"], service="shares", target="/shares/1").identity.user_id
    with pytest.raises(authz.InvalidSignature):
        signed(headers, key=extract_keys["todos"], target="/shares/1")


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_without_a_username_sends_an_empty_one(client, upstream, make_token, extract_keys, mode):
    await client.get("/api/todos/1", headers=bearer(make_token(username=None)))

    headers = upstream.seen[0].header_map
    assert headers["x-user-name"] == ""
    assert signed(headers, key=extract_keys["todos"], target="/todos/1").identity.username == ""


async def test_extract_with_a_missing_key_does_not_start(start_gateway, make_settings):
    keys = {"todos": SecretStr("k" * 32), "shares": SecretStr("s" * 32)}  # none for reminders

    with pytest.raises(authz.ConfigurationError, match="reminders"):
        await start_gateway(make_settings("extract", extract_keys=keys))


@pytest.mark.parametrize(
    ("key", "match"),
    [("", r"GATEWAY_EXTRACT_KEYS\[todos\] is empty"), ("   ", "is empty"), ("k" * 31, "31 bytes long")],
)
async def test_extract_with_a_weak_key_does_not_start(start_gateway, make_settings, extract_keys, key, match):
    keys = {name: SecretStr(value.decode()) for name, value in extract_keys.items()} | {"todos": SecretStr(key)}

    # env=dev: outside it an empty key is already refused as a missing secret (authz.environment); this is
    # the mode's own check, which holds in every environment.
    with pytest.raises(authz.ConfigurationError, match=match):
        await start_gateway(make_settings("extract", extract_keys=keys, env="dev"))


async def test_extract_with_one_key_for_two_services_does_not_start(start_gateway, make_settings, extract_keys):
    keys = {name: SecretStr(value.decode()) for name, value in extract_keys.items()}
    keys["shares"] = keys["todos"]

    with pytest.raises(authz.ConfigurationError, match="todos and shares the same key"):
        await start_gateway(make_settings("extract", extract_keys=keys))


async def test_phantom_without_the_gateways_client_secret_does_not_start(start_gateway, make_settings):
    with pytest.raises(authz.ConfigurationError, match="GATEWAY_CLIENT_SECRET"):
        await start_gateway(make_settings("phantom"))


@pytest.mark.parametrize("mode", ["trust", "passthrough"])
async def test_token_modes_need_no_extract_keys(start_gateway, make_settings, upstream, auth, mode):
    client = await start_gateway(make_settings(mode, extract_keys={}))

    assert (await client.get("/api/todos/1", headers=auth)).status_code == 200


# --- the registry and the modes on their own -------------------------------------------------------------


def _edge(kind: Kind = Kind.USER) -> Edge:
    principal = Principal(subject="u-1", kind=kind, client_id="todo-cli", username="ann",
                          roles=frozenset({"b", "a"}), scopes=frozenset({"s2", "s1"}))  # fmt: skip
    return Edge("todos", "t.o.k", principal, "GET", "/todos", b"")


def test_every_mode_has_one_module_at_the_edge():
    assert set(GATEWAY_MODES) == set(Mode)
    for mode, spec in GATEWAY_MODES.items():
        assert spec.mode is mode
        assert spec.build.__module__ == f"gateway.modes.{mode.value}"


async def test_the_registry_builds_each_mode(make_settings):
    import httpx

    async with httpx.AsyncClient() as http:
        from gateway.modes import BuildContext

        built = {
            mode: await gateway_mode(Mode(mode)).build(BuildContext(make_settings(mode), http))
            for mode in ("trust", "passthrough", "extract", "reissue")
        }
    assert isinstance(built["trust"], ForwardTheToken)
    assert isinstance(built["passthrough"], ForwardTheToken)
    assert isinstance(built["extract"], SignTheRequest)
    assert isinstance(built["reissue"], ReissueToken)


async def test_forward_the_token_outbound():
    assert await ForwardTheToken().outbound(_edge()) == [("authorization", "Bearer t.o.k")]


async def test_sign_the_request_outbound_is_sorted_and_verifiable():
    key = b"k" * 32
    mode = SignTheRequest({"todos": key}, {"todos": "todos"})

    headers = dict(await mode.outbound(_edge()))

    assert "authorization" not in headers
    assert headers["x-roles"] == "a b"
    assert headers["x-scopes"] == "s1 s2"
    assert signed(headers, key=key, target="/todos").identity.user_id == "u-1"

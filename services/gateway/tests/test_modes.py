"""What each mode hands the service: the edge token itself (trust, passthrough) or signed identity
headers and no token (extract); and the configurations the gateway refuses to start with."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

import authz
from authz import Kind, Mode, Principal
from gateway.modes import Edge, ExtractHeaders, ForwardToken, boundary_for
from gateway.reissue import ReissueToken

ALICE_SUB = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


@pytest.mark.parametrize("mode", ["trust", "passthrough"])
async def test_a_service_token_is_forwarded_too(client, upstream, issuer, mode):
    service_token = issuer.token(sub="reminders", client_id="reminders", audience="todos", roles=())

    response = await client.get("/api/todos/due", headers=bearer(service_token))

    assert response.status_code == 200
    assert upstream.seen[0].all("authorization") == [f"Bearer {service_token}"]


# --- extract -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_sends_signed_identity_for_the_routed_service_only(
    client, upstream, make_token, extract_keys, mode
):
    token = make_token(roles=("user", "admin"), scope="todos:write todos:read")

    response = await client.get("/api/todos/1", headers=bearer(token))

    assert response.status_code == 200
    [seen] = upstream.seen
    assert seen.all("authorization") == []
    assert token not in {v for _, v in seen.headers}
    headers = seen.header_map
    identity = authz.verify_identity(headers, key=extract_keys["todos"], target="todos")
    assert identity == authz.SignedIdentity(
        user_id=ALICE_SUB, username="alice", roles=("admin", "user"), scopes=("todos:read", "todos:write")
    )
    assert headers["x-user-id"] == ALICE_SUB
    assert headers["x-user-name"] == "alice"
    assert headers["x-roles"] == "admin user"
    assert headers["x-scopes"] == "todos:read todos:write"
    with pytest.raises(authz.InvalidSignature):
        authz.verify_identity(headers, key=extract_keys["shares"], target="todos")
    with pytest.raises(authz.InvalidSignature):
        authz.verify_identity(headers, key=extract_keys["todos"], target="shares")
    with pytest.raises(authz.InvalidSignature):
        authz.verify_identity({**headers, "x-roles": "admin user superuser"}, key=extract_keys["todos"], target="todos")


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_signs_with_the_key_of_the_service_routed_to(client, upstream, auth, extract_keys, mode):
    await client.get("/api/shares/1", headers=auth)

    headers = upstream.seen[0].header_map
    assert authz.verify_identity(headers, key=extract_keys["shares"], target="shares").user_id == ALICE_SUB
    with pytest.raises(authz.InvalidSignature):
        authz.verify_identity(headers, key=extract_keys["todos"], target="todos")


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_without_a_username_sends_an_empty_one(client, upstream, make_token, extract_keys, mode):
    await client.get("/api/todos/1", headers=bearer(make_token(username=None)))

    headers = upstream.seen[0].header_map
    assert headers["x-user-name"] == ""
    assert authz.verify_identity(headers, key=extract_keys["todos"], target="todos").username == ""


@pytest.mark.parametrize("mode", ["extract"])
async def test_extract_refuses_a_service_token(client, upstream, issuer, problem, mode):
    service_token = issuer.token(sub="reminders", client_id="reminders", audience="todos", roles=())

    problem(await client.get("/api/todos/due", headers=bearer(service_token)), 403, "wrong-principal-kind")
    assert upstream.seen == []


async def test_extract_with_a_missing_key_does_not_start(start_gateway, make_settings):
    keys = {"todos": SecretStr("k1"), "shares": SecretStr("k2")}  # none for reminders

    with pytest.raises(authz.ConfigurationError, match="reminders"):
        await start_gateway(make_settings("extract", extract_keys=keys))


async def test_phantom_without_the_gateways_client_secret_does_not_start(start_gateway, make_settings):
    with pytest.raises(authz.ConfigurationError, match="GATEWAY_CLIENT_SECRET"):
        await start_gateway(make_settings("phantom"))


@pytest.mark.parametrize("mode", ["trust", "passthrough"])
async def test_token_modes_need_no_extract_keys(start_gateway, make_settings, upstream, auth, mode):
    client = await start_gateway(make_settings(mode, extract_keys={}))

    assert (await client.get("/api/todos/1", headers=auth)).status_code == 200


# --- the strategies on their own -----------------------------------------------------------------------


def _principal(kind: Kind = Kind.USER) -> Principal:
    return Principal(subject="u-1", kind=kind, client_id="todo-cli", username="ann", roles=frozenset({"b", "a"}),
                     scopes=frozenset({"s2", "s1"}))  # fmt: skip


def test_boundary_for_picks_the_strategy(make_settings):
    assert isinstance(boundary_for(Mode.TRUST, make_settings("trust")), ForwardToken)
    assert isinstance(boundary_for(Mode.PASSTHROUGH, make_settings()), ForwardToken)
    assert isinstance(boundary_for(Mode.EXTRACT, make_settings("extract")), ExtractHeaders)
    assert isinstance(boundary_for(Mode.REISSUE, make_settings("reissue")), ReissueToken)
    assert isinstance(boundary_for(Mode.PHANTOM, make_settings("phantom")), ForwardToken)


async def test_forward_token_outbound():
    assert await ForwardToken(Mode.TRUST).outbound(Edge("todos", "t.o.k", _principal())) == [
        ("authorization", "Bearer t.o.k")
    ]


async def test_extract_headers_outbound_is_sorted_and_verifiable():
    strategy = ExtractHeaders({"todos": b"key"})

    headers = dict(await strategy.outbound(Edge("todos", "t.o.k", _principal())))

    assert "authorization" not in headers
    assert headers["x-roles"] == "a b"
    assert headers["x-scopes"] == "s1 s2"
    assert authz.verify_identity(headers, key=b"key", target="todos").user_id == "u-1"


async def test_extract_headers_refuse_a_service():
    with pytest.raises(authz.WrongPrincipalKind):
        await ExtractHeaders({"todos": b"key"}).outbound(Edge("todos", "t", _principal(Kind.SERVICE)))

"""`reissue`: the service receives a token the gateway minted for it alone, verifiable with the gateway's
published key; the edge token goes no further."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

import authz
from authz import Kind, Mode, Principal
from gateway.modes import Edge
from gateway.modes.reissue import GatewayKey, ReissueToken

ALICE_SUB = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"
GATEWAY_ISSUER = "http://127.0.0.1:8080"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def internal_claims(token: str, key: GatewayKey, audience: str, *, verify_exp: bool = True) -> dict:
    public = jwt.PyJWK.from_dict(key.public_jwk)
    return jwt.decode(token, public.key, algorithms=["ES256"], audience=audience, issuer=GATEWAY_ISSUER,
                      options={"verify_exp": verify_exp, "verify_iat": verify_exp})  # fmt: skip


# --- through a running gateway ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reissue"])
async def test_the_service_receives_an_internal_token_for_it_alone(client, upstream, make_token, mode):
    edge = make_token(roles=("user", "admin"), scope="todos:read todos:write", email="alice@example.test")

    response = await client.get("/api/todos/1", headers=bearer(edge))

    assert response.status_code == 200
    [seen] = upstream.seen
    [authorization] = seen.all("authorization")
    internal = authorization.removeprefix("Bearer ")
    assert internal != edge
    assert edge not in {v for _, v in seen.headers}
    jwks = (await client.get("/.well-known/jwks.json")).json()
    [public] = jwks["keys"]
    header = jwt.get_unverified_header(internal)
    assert (header["alg"], header["typ"], header["kid"]) == ("ES256", "at+jwt", public["kid"])
    claims = jwt.decode(internal, jwt.PyJWK.from_dict(public).key, algorithms=["ES256"], audience="todos",
                        issuer=GATEWAY_ISSUER)  # fmt: skip
    edge_claims = jwt.decode(edge, options={"verify_signature": False})
    assert claims["aud"] == "todos"
    for kept in ("sub", "client_id", "scope", "roles", "preferred_username", "email"):
        assert claims[kept] == edge_claims[kept], kept
    assert claims["exp"] - claims["iat"] == 30
    assert claims["jti"] != edge_claims["jti"]


@pytest.mark.parametrize("mode", ["reissue"])
async def test_a_token_per_target_and_reused_for_the_same_user_and_target(client, upstream, token, mode):
    for path in ("/api/todos/1", "/api/todos/2", "/api/shares/1"):
        assert (await client.get(path, headers=bearer(token))).status_code == 200

    todos_1, todos_2, shares_1 = (s.all("authorization")[0] for s in upstream.seen)
    assert todos_1 == todos_2
    assert shares_1 != todos_1
    assert jwt.decode(shares_1.removeprefix("Bearer "), options={"verify_signature": False})["aud"] == "shares"
    metrics = (await client.get("/metrics")).text
    assert "gateway_internal_tokens_minted_total 2\n" in metrics


@pytest.mark.parametrize("mode", ["reissue"])
async def test_reissue_refuses_a_service_token_at_the_edge(client, upstream, issuer, problem, mode):
    service_token = issuer.token(sub="reminders", client_id="reminders", audience="todos", roles=())

    problem(await client.get("/api/todos/due", headers=bearer(service_token)), 401, "not-an-edge-token")
    assert upstream.seen == []


@pytest.mark.parametrize("mode", ["passthrough", "extract"])
async def test_no_jwks_outside_reissue(client, problem, mode):
    problem(await client.get("/.well-known/jwks.json"), 404, "not-found")


async def test_a_configured_key_is_used_and_keeps_its_kid(start_gateway, make_settings, upstream, auth):
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    client = await start_gateway(make_settings("reissue", signing_key=SecretStr(pem)))

    await client.get("/api/todos/1", headers=auth)

    [public] = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert public["kid"] == GatewayKey(private).kid
    internal = upstream.seen[0].all("authorization")[0].removeprefix("Bearer ")
    assert internal_claims(internal, GatewayKey(private), "todos")["sub"] == ALICE_SUB


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"signing_key": SecretStr("not a pem")}, "PEM"),
        ({"issuer": "http://identity.test"}, "GATEWAY_ISSUER"),
    ],
)
async def test_reissue_bad_configurations_do_not_start(start_gateway, make_settings, overrides, match):
    with pytest.raises(authz.ConfigurationError, match=match):
        await start_gateway(make_settings("reissue", **overrides))


def test_only_a_p256_key_signs():
    with pytest.raises(authz.ConfigurationError, match="P-256"):
        GatewayKey(ec.generate_private_key(ec.SECP384R1()))


def test_the_kid_is_the_rfc7638_thumbprint():
    # RFC 7638 section 3.1's example is RSA; for EC the members are crv, kty, x, y. Recompute independently.
    key = GatewayKey.generate()
    thumbprint = jwt.PyJWK.from_dict(key.public_jwk)
    assert key.kid == _reference_thumbprint(key.public_jwk)
    assert thumbprint.key_id == key.kid


def _reference_thumbprint(jwk: dict) -> str:
    import base64
    import hashlib

    canonical = '{"crv":"%s","kty":"EC","x":"%s","y":"%s"}' % (jwk["crv"], jwk["x"], jwk["y"])  # noqa: UP031
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


# --- the strategy on its own, on a fake clock ------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _principal(*, exp: int, kind: Kind = Kind.USER, act: dict | None = None) -> Principal:
    claims = {"sub": ALICE_SUB, "client_id": "todo-cli", "scope": "todos:read", "roles": ["user"], "exp": exp,
              "iat": exp - 900, "aud": ["todos", "shares"], "iss": "http://identity.test", "jti": "edge"}  # fmt: skip
    if kind is Kind.SERVICE:
        claims |= {"sub": "reminders", "client_id": "reminders"}
    if act:
        claims["act"] = act
    return Principal.from_claims(claims, mode=Mode.REISSUE)


def _strategy(clock: Clock, lifetime: int = 30) -> ReissueToken:
    return ReissueToken(GatewayKey.generate(), issuer=GATEWAY_ISSUER, audiences={"todos": "todos-api"},
                        lifetime_seconds=lifetime, clock=clock)  # fmt: skip


def test_reused_while_a_third_of_its_life_is_left_then_minted_again():
    clock = Clock(1_000_000)
    strategy = _strategy(clock)
    edge = Edge("todos", "edge-token", _principal(exp=1_000_900), "GET", "/todos", b"")
    first = strategy.token_for(edge)
    clock.now += 19
    assert strategy.token_for(edge) == first
    clock.now += 1  # 10 s left of 30: no longer handed out
    second = strategy.token_for(edge)
    assert second != first
    assert strategy.minted == 2
    claims = internal_claims(
        second, strategy.key, "todos-api", verify_exp=False
    )  # the configured audience of the service
    assert (claims["iat"], claims["exp"]) == (1_000_020, 1_000_050)


def test_never_outlives_the_edge_token():
    clock = Clock(1_000_000)
    strategy = _strategy(clock)
    token = strategy.token_for(Edge("todos", "edge-token", _principal(exp=1_000_012), "GET", "/todos", b""))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] == 1_000_012


def test_a_different_edge_token_gets_its_own_internal_token():
    strategy = _strategy(Clock(1_000_000))
    principal = _principal(exp=1_000_900)
    assert strategy.token_for(Edge("todos", "one", principal, "GET", "/todos", b"")) != strategy.token_for(
        Edge("todos", "two", principal, "GET", "/todos", b"")
    )


@pytest.mark.parametrize(("kind", "act"), [(Kind.SERVICE, None), (Kind.USER, {"sub": "shares"})])
def test_only_a_users_own_token_is_reissued(kind, act):
    strategy = _strategy(Clock(1_000_000))
    with pytest.raises(authz.WrongPrincipalKind):
        strategy.token_for(Edge("todos", "t", _principal(exp=1_000_900, kind=kind, act=act), "GET", "/todos", b""))

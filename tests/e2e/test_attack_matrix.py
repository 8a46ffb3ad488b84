"""Attacks x modes. Each cell runs one attack against the real suite in one mode and compares the outcome
with the expectation written in infra/matrix.py — including the attacks a mode does NOT stop. Every cell
runs (no skip, no xfail), and the ledger checks at the end that the number of executed cells equals the
number of expectations. docs/boundary-modes.md is rendered from the same expectations."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import authz
from tests.e2e.infra import forgery
from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.matrix import ACCEPTED, ATTACKS, PHANTOM_CACHE_SECONDS, REFUSED, cells

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


class Ctx:
    """What the attacks need, made once per mode."""

    def __init__(self, s: SuiteClient) -> None:
        self.s = s
        #: alice's edge token as the client holds it (opaque in phantom), and the JWT behind it, to forge from.
        self.alice = s.password_token("alice")
        self.alice_jwt = s.jwt(self.alice)
        self.alice_sub = s.claims(self.alice)["sub"]
        self.bob_sub = s.claims(s.password_token("bob"))["sub"]
        self.alice_todo = s.gateway("POST", "/todos", token=self.alice, json={"title": "the target"}).json()["id"]

    def bob_headers(self, key: bytes, service: str, now: float | None = None) -> dict[str, str]:
        """Headers claiming bob (as an admin), signed for `GET /todos/whoami` at `service` with `key`."""
        identity = authz.SignedIdentity(self.bob_sub, "bob", ("user", "admin"), ("todos:read", "todos:write"))
        request = authz.SignedRequest(method="GET", target="/todos/whoami", body=b"")
        return authz.sign_identity(identity, key=key, service=service, request=request, now=now)

    def alices_request(self, method: str, target: str, now: float | None = None) -> dict[str, str]:
        """What alice's request carries on the hop to todos, as captured there: in extract the gateway's
        signed headers for exactly that request (made here with todos' key, as the gateway makes them);
        in the other modes the credential the gateway hands a service for her (the spy keeps it)."""
        if self.s.mode != "extract":
            return self.received()
        claims = self.s.claims(self.alice)
        identity = authz.SignedIdentity(self.alice_sub, "alice", tuple(sorted(claims["roles"])),
                                        tuple(sorted(claims["scope"].split())))  # fmt: skip
        request = authz.SignedRequest(method=method, target=target, body=b"")
        return authz.sign_identity(identity, key=self.s.extract_key("todos"), service="todos", request=request, now=now)

    def received(self) -> dict[str, str]:
        """What the gateway hands a service for alice's request: the spy upstream keeps it."""
        assert self.s.spy is not None
        response = self.s.gateway("GET", "/spy/anything", token=self.alice)
        assert response.status_code == 200, response.text
        return self.s.spy.credentials()

    def issuer_signed(self, **changes) -> str:
        claims = {**forgery.claims_of(self.alice_jwt), **changes}
        return forgery.signed_with_issuer_key(self.s.database_urls["identity"], claims)


def _ok(response) -> bool:
    return 200 <= response.status_code < 300


def _at_gateway(ctx: Ctx, token: str | None, **kwargs) -> bool:
    return _ok(ctx.s.gateway("GET", "/todos/whoami", token=token, **kwargs))


def _spoof_at_gateway(ctx: Ctx) -> bool:
    headers = {"X-User-Id": ctx.bob_sub, "X_Roles": "admin", "x-scopes": "todos:read", "X-Gateway-Signature": "x"}
    whoami = ctx.s.gateway("GET", "/todos/whoami", token=ctx.alice, headers=headers).json()
    return whoami["subject"] == ctx.bob_sub or "admin" in whoami["roles"]


def _as_bob_at_todos(ctx: Ctx, headers: dict[str, str], token: str | None = None) -> bool:
    response = ctx.s.todos("GET", "/whoami", token=token, headers=headers)
    return _ok(response) and response.json()["subject"] == ctx.bob_sub


def _exchanged_elsewhere(ctx: Ctx) -> bool:
    response = ctx.s.http.post(
        ctx.s.discovery()["token_endpoint"],
        data={"grant_type": EXCHANGE, "subject_token": ctx.alice_jwt, "subject_token_type": ACCESS_TOKEN,
              "audience": "todos", "scope": "todos:read"},
        auth=("shares", ctx.s.processes.secrets["shares"]),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return _ok(ctx.s.shares("GET", "/whoami", token=response.json()["access_token"]))


def _revoked(ctx: Ctx) -> bool:
    token = ctx.s.password_token("alice")  # its own token: the context's alice stays usable
    assert _at_gateway(ctx, token)  # used once, so a phantom gateway has it cached
    revoked = ctx.s.http.post(ctx.s.discovery()["revocation_endpoint"], data={"token": token, "client_id": "todo-cli"})
    assert revoked.status_code == 200, revoked.text
    time.sleep(PHANTOM_CACHE_SECONDS + 0.5)
    return _at_gateway(ctx, token)


def _delegated_at_gateway(ctx: Ctx) -> bool:
    """shares exchanges alice's token for a delegated one (todos, `act: shares`) and sends that to the edge."""
    response = ctx.s.http.post(
        ctx.s.discovery()["token_endpoint"],
        data={"grant_type": EXCHANGE, "subject_token": ctx.alice_jwt, "subject_token_type": ACCESS_TOKEN,
              "audience": "todos", "scope": "todos:read"},
        auth=("shares", ctx.s.processes.secrets["shares"]),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return _ok(ctx.s.gateway("GET", f"/todos/{ctx.alice_todo}", token=response.json()["access_token"]))


def _replayed_as_delete(ctx: Ctx) -> bool:
    todo = ctx.s.gateway("POST", "/todos", token=ctx.alice, json={"title": "read, never deleted"}).json()["id"]
    captured = ctx.alices_request("GET", f"/todos/{todo}")
    ctx.s.todos("DELETE", f"/{todo}", headers=captured)
    return ctx.s.gateway("GET", f"/todos/{todo}", token=ctx.alice).status_code == 404


def _sent_twice(ctx: Ctx) -> bool:
    captured = ctx.alices_request("GET", "/todos/whoami")
    first = ctx.s.todos("GET", "/whoami", headers=captured)
    assert _ok(first), first.text  # the original request, as the gateway sent it, passes
    return _ok(ctx.s.todos("GET", "/whoami", headers=captured))


def _from_the_future(ctx: Ctx) -> bool:
    """extract: alice's signed request dated two minutes ahead, at todos; elsewhere: a token identity signed
    that becomes valid two minutes from now, at the gateway."""
    later = time.time() + 120
    if ctx.s.mode == "extract":
        return _ok(ctx.s.todos("GET", "/whoami", headers=ctx.alices_request("GET", "/todos/whoami", now=later)))
    return _at_gateway(ctx, ctx.issuer_signed(iat=int(later), nbf=int(later), exp=int(later) + 300))


def _percent_encoded_service(ctx: Ctx) -> bool:
    response = ctx.s.gateway("GET", "/%74odos/whoami", token=ctx.alice)
    assert response.status_code < 500, response.text  # the 500 this once was is a bug, not an outcome
    return _ok(response)


def _connection_strips_the_gateways_headers(ctx: Ctx) -> bool:
    """A client lists the gateway's own headers in `Connection`: if the gateway dropped what it added, alice's
    request would reach todos without her credential (or with half a signature)."""
    listed = "authorization, x-user-id, x-gateway-signature, x-gateway-nonce, x-gateway-timestamp, x-request-id"
    response = ctx.s.gateway("GET", "/todos/whoami", token=ctx.alice, headers={"Connection": listed})
    return not (_ok(response) and response.json()["subject"] == ctx.alice_sub)


def _on_behalf_of(ctx: Ctx, client_id: str, scope: str) -> bool:
    token = ctx.s.client_token(client_id, audience="todos", scope=scope)
    response = ctx.s.todos("GET", f"/{ctx.alice_todo}", token=token, headers={"X-On-Behalf-Of": ctx.alice_sub})
    return _ok(response)


RUN: dict[str, Callable[[Ctx], bool]] = {
    "no-token": lambda c: _at_gateway(c, None),
    "expired": lambda c: _at_gateway(c, c.issuer_signed(iat=int(time.time()) - 900, exp=int(time.time()) - 60)),
    "wrong-audience": lambda c: _at_gateway(c, c.s.password_token("alice", audience="shares")),
    "wrong-issuer": lambda c: _at_gateway(c, c.issuer_signed(iss="http://evil.test")),
    "alg-none": lambda c: _at_gateway(c, forgery.unsigned(c.alice_jwt)),
    "key-confusion": lambda c: _at_gateway(
        c, forgery.hs256_with_public_key(c.s.http.get(c.s.discovery()["jwks_uri"]).json()["keys"][0], c.alice_jwt)),
    "forged-signature": lambda c: _at_gateway(c, forgery.signed_with_other_key(c.alice_jwt)),
    "spoof-headers-at-gateway": _spoof_at_gateway,
    "spoof-headers-at-service": lambda c: _as_bob_at_todos(c, {"X-User-Id": c.bob_sub, "X-User-Name": "bob"}),
    "signature-for-other-service": lambda c: _as_bob_at_todos(c, c.bob_headers(c.s.extract_key("shares"), "shares")),
    "stale-signature": lambda c: _as_bob_at_todos(
        c, c.bob_headers(c.s.extract_key("todos"), "todos", now=time.time() - 120)),
    "valid-signature-key-holder": lambda c: _as_bob_at_todos(c, c.bob_headers(c.s.extract_key("todos"), "todos")),
    "forged-token-at-service": lambda c: _as_bob_at_todos(
        c, {}, forgery.signed_with_other_key(c.alice_jwt, sub=c.bob_sub)),
    "edge-token-replay": lambda c: _ok(c.s.todos("GET", token=c.alice)),
    "received-credential-at-gateway": lambda c: _ok(c.s.gateway("GET", "/todos/whoami", headers=c.received())),
    "received-credential-at-other-service": lambda c: _ok(c.s.shares("GET", "/whoami", headers=c.received())),
    "revoked-edge-token": _revoked,
    "exchanged-token-elsewhere": _exchanged_elsewhere,
    "delegated-token-at-gateway": _delegated_at_gateway,
    "service-token-at-gateway": lambda c: _ok(
        c.s.gateway("GET", "/todos/due", token=c.s.client_token("reminders", audience="todos", scope="todos:due:read"))
    ),
    "replayed-as-delete": _replayed_as_delete,
    "same-request-twice": _sent_twice,
    "from-the-future": _from_the_future,
    "percent-encoded-service": _percent_encoded_service,
    "connection-strips-gateway-headers": _connection_strips_the_gateways_headers,
    "on-behalf-of-wrong-client": lambda c: _on_behalf_of(c, "reminders", "todos:due:read"),
    "on-behalf-of-stolen-shares-secret": lambda c: _on_behalf_of(c, "shares", "todos:read"),
}  # fmt: skip

EXPECTED = {(mode, a.id): a.expect[mode][0] for a in ATTACKS for mode in a.expect}
EXECUTED: set[tuple[str, str]] = set()


def test_every_attack_has_a_runner_and_every_runner_an_attack() -> None:
    assert set(RUN) == {a.id for a in ATTACKS}


# Session scope: pytest runs the cells grouped by mode, interleaved with other modules' tests for the same
# mode, so only the end of the session is "after every cell".
@pytest.fixture(scope="session")
def ledger(request: pytest.FixtureRequest) -> Iterator[set[tuple[str, str]]]:
    yield EXECUTED
    if request.session.shouldstop:  # -x stopped the run: it has failed already, the count means nothing
        return
    selected = {
        (item.callspec.params["moded_suite"], item.callspec.params["attack"])
        for item in request.session.items
        if item.name.startswith("test_cell[") and item.path == Path(__file__)
    }
    filtered = bool(request.config.option.keyword or request.config.option.markexpr)
    expected = selected if filtered else set(EXPECTED)
    # Every cell ran: as many executed cells as expectations (all of them, unless a -k/-m filter chose fewer).
    assert expected == EXECUTED, f"cells not executed: {sorted(expected - EXECUTED)}"
    assert len(EXECUTED) == len(expected)


@pytest.fixture(scope="session")
def contexts() -> dict[str, Ctx]:
    return {}


@pytest.mark.parametrize("attack", sorted({a for _, a in cells()}))
def test_cell(moded_suite: SuiteClient, attack: str, ledger, contexts: dict[str, Ctx]) -> None:
    mode = moded_suite.mode
    assert (mode, attack) in EXPECTED, f"no expectation for {attack} in {mode}"
    ctx = contexts.get(mode) or contexts.setdefault(mode, Ctx(moded_suite))
    accepted = RUN[attack](ctx)
    ledger.add((mode, attack))
    outcome = ACCEPTED if accepted else REFUSED
    why = next(a for a in ATTACKS if a.id == attack).expect[mode][1]
    assert outcome == EXPECTED[(mode, attack)], (
        f"{attack} in {mode}: {outcome}, expected {EXPECTED[(mode, attack)]} ({why})"
    )

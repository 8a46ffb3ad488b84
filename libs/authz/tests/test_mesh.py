"""The mesh peer (X-Forwarded-Client-Cert from the sidecar) and the rule that token and peer must agree.

The header below is the shape Envoy sends with `forward_client_cert_details: SANITIZE_SET` and
`set_current_client_cert_details: {uri: true, subject: true}` — the same as Istio's sidecars.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from authz import Authenticator, AuthzSettings, MalformedPeer, Mode, Principal, install_problem_handlers, require
from authz._mesh import peer_of, xfcc_elements
from authz.testing import FakeIssuer

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

ALICE = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"
NS = "spiffe://cluster.local/ns/todo-suite/sa/"


def xfcc(service: str) -> str:
    return (f'By={NS}todos;Hash=9d1f0c3e;Subject="CN={service},O=todo-suite dev, mesh";'
            f"URI={NS}{service}")  # fmt: skip


# --- parsing ---------------------------------------------------------------------------------------------


def test_envoys_header_parses_with_a_quoted_subject():
    [element] = xfcc_elements(xfcc("gateway"))
    assert element["uri"] == f"{NS}gateway"
    assert element["subject"] == "CN=gateway,O=todo-suite dev, mesh"


def test_the_last_element_is_the_hop_that_reached_the_sidecar():
    header = f"URI={NS}shares,By={NS}todos;URI={NS}reminders"
    assert peer_of(header, trust_domain="cluster.local", namespace="todo-suite").service_account == "reminders"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        'URI="unterminated',
        "URI=spiffe://other.domain/ns/todo-suite/sa/gateway",
        "URI=spiffe://cluster.local/ns/default/sa/gateway",
        "URI=spiffe://cluster.local/ns/todo-suite/sa/",
        "URI=spiffe://cluster.local/ns/todo-suite/sa/gateway/extra",
        "Hash=abc",  # no URI: a certificate without a SPIFFE ID
        "URI=x,",
    ],
)
def test_a_malformed_or_foreign_peer_is_refused(header):
    with pytest.raises(MalformedPeer):
        peer_of(header, trust_domain="cluster.local", namespace="todo-suite")


def test_no_header_is_no_peer():
    assert peer_of(None, trust_domain="cluster.local", namespace="todo-suite") is None


# --- the authenticator with the mesh on ------------------------------------------------------------------


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer()


@pytest.fixture
def make_client(issuer) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(mode: Mode = Mode.PASSTHROUGH, mesh: bool = True) -> TestClient:
        settings = AuthzSettings.for_service("todos", issuer=issuer.issuer, mode=mode, mesh=mesh,
                                             insecure_demo=not mesh)  # fmt: skip

        @asynccontextmanager
        async def lifespan(app: FastAPI):
            async with httpx.AsyncClient(transport=issuer.transport) as http:
                yield {"authz": Authenticator.from_settings(settings, http, delegation={"shares": {"read"}})}

        app = FastAPI(lifespan=lifespan)
        install_problem_handlers(app, realm="todos")

        @app.get("/whoami")
        async def whoami(principal: Annotated[Principal, Depends(require(operation="read"))]) -> dict:
            return principal.whoami()

        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def call(client: TestClient, token: str, peer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if peer:
        headers["X-Forwarded-Client-Cert"] = xfcc(peer)
    return client.get("/whoami", headers=headers)


def user(issuer: FakeIssuer) -> str:
    return issuer.token(sub=ALICE, audience=["todos", "shares"], scope="todos:read")


def delegated(issuer: FakeIssuer, actor: str = "shares") -> str:
    return issuer.token(sub=ALICE, client_id=actor, audience="todos", act={"sub": actor})


def service(issuer: FakeIssuer, client_id: str = "reminders") -> str:
    return issuer.token(sub=client_id, client_id=client_id, audience="todos", roles=())


@pytest.mark.parametrize(
    ("token", "peer"),
    [(user, "gateway"), (delegated, "shares"), (service, "reminders")],
    ids=["user-from-gateway", "delegated-from-its-actor", "service-from-itself"],
)
def test_token_and_peer_agree(make_client, issuer, token, peer):
    response = call(make_client(), token(issuer), peer)

    assert response.status_code == 200, response.text
    assert response.json()["mesh_peer"] == f"{NS}{peer}"


@pytest.mark.parametrize(
    ("token", "peer"),
    [(user, "shares"), (user, "reminders"), (delegated, "reminders"), (delegated, "gateway"), (service, "gateway"),
     (service, "shares")],
    ids=["edge-token-replayed-by-shares", "user-from-reminders", "delegated-from-another", "delegated-from-gateway",
         "service-via-gateway", "reminders-token-from-shares"],
)  # fmt: skip
def test_token_and_peer_disagree(make_client, issuer, token, peer):
    response = call(make_client(), token(issuer), peer)

    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith("peer-mismatch")


def test_with_the_mesh_on_a_request_must_come_through_the_sidecar(make_client, issuer):
    response = call(make_client(), user(issuer), None)

    assert response.status_code == 403
    assert response.json()["type"].endswith("no-mesh-peer")


def test_without_the_mesh_the_header_is_ignored(make_client, issuer):
    response = call(make_client(mesh=False), user(issuer), "shares")

    assert response.status_code == 200
    assert response.json()["mesh_peer"] is None


def test_trust_with_the_mesh_skips_verification_only_for_the_gateway(make_client, issuer):
    client = make_client(Mode.TRUST)
    forged = FakeIssuer(issuer.issuer).token(sub=ALICE, audience="todos", scope="todos:read")

    from_gateway = call(client, forged, "gateway")
    assert from_gateway.status_code == 200  # the gateway verified what it sent: that is the mode
    assert from_gateway.json()["source"] == "unverified_token"
    forged_service = FakeIssuer(issuer.issuer).token(sub="reminders", client_id="reminders", audience="todos")
    assert call(client, forged_service, "reminders").status_code == 401  # anyone else's token: verified
    real_service = call(client, service(issuer), "reminders")
    assert real_service.status_code == 200
    assert real_service.json()["source"] == "verified_token"


def test_an_actor_of_the_delegation_table_calls_only_with_delegated_tokens(make_client, issuer):
    # shares is in this service's delegation table: its own client-credentials token is refused even from itself.
    response = call(make_client(), service(issuer, "shares"), "shares")

    assert response.status_code == 403
    assert "only with a delegated token" in response.json()["detail"]

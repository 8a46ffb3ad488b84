"""The edge check's outcome is kept per routed service and JWT until the token expires: a repeated token is
not verified again, an expired one is, and a refusal is never kept (gateway/runtime.py, `Runtime.admit`)."""

from __future__ import annotations

from typing import Any

import pytest

import authz
from gateway.modes._base import ForwardTheToken
from gateway.runtime import Runtime
from gateway.settings import Settings

EXP = 1_000_000.0
LEEWAY = 10


class CountingVerifier:
    """Stands in for a `TokenVerifier` of one audience: the claims of each token, and how often it was asked."""

    def __init__(self, claims: dict[str, dict[str, Any]]) -> None:
        self.claims = claims
        self.calls: list[str] = []

    async def verify(self, token: str) -> dict[str, Any]:
        self.calls.append(token)
        return self.claims[token]


def _claims(sub: str, client_id: str, **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "client_id": client_id, "aud": "todos", "exp": EXP, **extra}


@pytest.fixture
def clock() -> list[float]:
    return [EXP - 60]


@pytest.fixture
def runtime(clock: list[float]) -> Runtime:
    settings = Settings(env="dev", edge_clients=["todo-cli"], authz=authz.AuthzSettings(leeway_seconds=LEEWAY))
    rt = Runtime(settings, None, clock=lambda: clock[0])
    rt.mode = ForwardTheToken()  # what `start` builds for passthrough, without identity behind it
    return rt


@pytest.fixture
def verifier() -> CountingVerifier:
    return CountingVerifier({
        "alice": _claims("alice-sub", "todo-cli"),
        "service": _claims("reminders", "reminders"),
        "delegated": _claims("alice-sub", "todo-cli", act={"sub": "shares"}),
    })  # fmt: skip


async def test_a_repeated_token_is_verified_once(runtime, verifier):
    first = await runtime.admit("todos", verifier, "alice")
    second = await runtime.admit("todos", verifier, "alice")

    assert first == second
    assert first[1].subject == "alice-sub"
    assert verifier.calls == ["alice"]


async def test_the_same_token_routed_elsewhere_is_verified_for_that_service(runtime, verifier):
    other = CountingVerifier(verifier.claims)
    await runtime.admit("todos", verifier, "alice")
    await runtime.admit("shares", other, "alice")

    assert (verifier.calls, other.calls) == (["alice"], ["alice"])


async def test_an_expired_token_is_verified_again(runtime, verifier, clock):
    await runtime.admit("todos", verifier, "alice")
    clock[0] = EXP + LEEWAY - 1  # within the leeway, like the verifier's own cache: still kept
    await runtime.admit("todos", verifier, "alice")
    assert verifier.calls == ["alice"]

    clock[0] = EXP + LEEWAY
    await runtime.admit("todos", verifier, "alice")
    assert verifier.calls == ["alice", "alice"]


@pytest.mark.parametrize("token", ["service", "delegated"])
async def test_a_refusal_is_never_kept(runtime, verifier, token):
    for _ in range(2):
        with pytest.raises(authz.NotAnEdgeToken):
            await runtime.admit("todos", verifier, token)

    assert verifier.calls == [token, token]

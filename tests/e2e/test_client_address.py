"""A client cannot name its own address: not to the gateway, which vouches for it to the services
(`X-Forwarded-For`), and not to identity's per-address login throttle.

uvicorn takes `X-Forwarded-For` from 127.0.0.1 by default and makes it the request's client address; every
local client is on 127.0.0.1, so before devstack ran uvicorn with `--no-proxy-headers` (devstack.suite
NO_PROXY_HEADERS) both of these were the client's to choose.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.identity_alone import IdentityProcess, identity_alone

#: Failures per address before identity makes that address wait (kept low so the test is quick).
ADDRESS_FREE_FAILURES = 3


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProcess]:
    # Alone, as in test_login_throttle.py: a shared suite's 127.0.0.1 must not be left waiting.
    env = {"IDENTITY_LOGIN_THROTTLE_ADDRESS_FREE_FAILURES": str(ADDRESS_FREE_FAILURES)}
    with identity_alone(tmp_path_factory.mktemp("identity-address"), env) as process:
        yield process


def test_a_forwarded_for_header_does_not_give_a_guesser_a_new_address(identity: IdentityProcess) -> None:
    answers = []
    with httpx.Client(timeout=10) as http:
        for i in range(ADDRESS_FREE_FAILURES + 1):
            # A new username each time (the per-username limit never starts) and a new claimed address each time.
            form = {"grant_type": "password", "client_id": "todo-cli", "username": f"nobody-{i}", "password": "x"}
            claimed = {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Forwarded-Proto": "https"}
            answers.append(http.post(f"{identity.url}/token", data=form, headers=claimed))

    assert [r.status_code for r in answers[:ADDRESS_FREE_FAILURES]] == [400] * ADDRESS_FREE_FAILURES
    assert answers[-1].status_code == 429, answers[-1].text
    assert answers[-1].json()["type"] == "urn:todo-suite:problem:too-many-login-attempts"


def test_the_gateway_vouches_only_for_the_address_it_saw(moded_suite: SuiteClient) -> None:
    s = moded_suite
    assert s.spy is not None
    token = s.password_token("alice")
    claimed = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Real-IP": "203.0.113.7"}

    response = s.gateway("GET", "/spy/address", token=token, headers=claimed)

    assert response.status_code == 200, response.text
    received = s.spy.received[-1]
    assert received["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in received
    assert "x-real-ip" not in received

"""Throttled guessing against the real identity process (devstack's settings, the default thresholds).

identity runs alone here, not in the shared suite: after 200 wrong passwords from 127.0.0.1 that address
waits, and every other e2e test logs in from 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from identity.settings import Settings
from tests.e2e.infra.identity_alone import IdentityProcess, identity_alone

DEFAULTS = Settings(env="dev")


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProcess]:
    with identity_alone(tmp_path_factory.mktemp("identity-throttle")) as process:
        yield process


def guess(http: httpx.Client, identity: IdentityProcess, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "client_id": "todo-cli", "username": username, "password": password}
    return http.post(f"{identity.url}/token", data=form)


def test_200_wrong_passwords_in_a_row_get_429_with_retry_after(identity: IdentityProcess) -> None:
    with httpx.Client(timeout=10) as http:
        answers = [guess(http, identity, "alice", f"guess-{i}") for i in range(200)]

    refused = [r for r in answers if r.status_code == 429]
    checked = [r for r in answers if r.status_code == 400]
    assert len(refused) + len(checked) == 200, {r.status_code for r in answers}
    # The free failures are checked; after them a wait doubles from 1 s, so however slowly this loop ran,
    # only a handful more were let through to the hash (each after its wait ran out).
    free = DEFAULTS.login_throttle_user_free_failures
    assert [r.status_code for r in answers[:free]] == [400] * free
    assert len(checked) <= free + 6, len(checked)
    for response in refused:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == "urn:todo-suite:problem:too-many-login-attempts"
        assert 1 <= int(response.headers["retry-after"]) <= DEFAULTS.login_throttle_max_delay_seconds
    for response in checked:
        assert response.json()["error"] == "invalid_grant"


def test_the_real_user_waits_only_as_long_as_retry_after_says(identity: IdentityProcess) -> None:
    with httpx.Client(timeout=10) as http:
        response = guess(http, identity, "bob", "wrong")
        while response.status_code != 429:
            response = guess(http, identity, "bob", "wrong")
        wait = int(response.headers["retry-after"])
        assert wait <= DEFAULTS.login_throttle_max_delay_seconds

        time.sleep(wait)
        answer = guess(http, identity, "bob", "bob")

    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"

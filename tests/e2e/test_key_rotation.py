"""Publish-first key rotation: the new key is in the JWKS before it signs, tokens of both keys work
during the overlap, and todos fetches the JWKS exactly once more (on the first unknown `kid`)."""

from __future__ import annotations

import time

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.forgery import header_of


def test_rotation_without_a_failed_request(suite: SuiteClient) -> None:
    jwks_uri = suite.discovery()["jwks_uri"]
    before = suite.password_token("alice")  # signed by the current key, not yet seen by todos
    old_kid = header_of(before)["kid"]
    fetches = suite.metric("authz_jwks_fetches_total")

    rotated = suite.http.post(f"{suite.identity_url}/admin/keys", auth=suite.admin_auth)
    assert rotated.status_code == 201, rotated.text
    new_kid, activates_at = rotated.json()["kid"], rotated.json()["activates_at"]
    assert rotated.json()["state"] == "pending"

    published = {k["kid"] for k in suite.http.get(jwks_uri).json()["keys"]}
    assert {old_kid, new_kid} <= published  # published first ...
    if time.time() < activates_at - 0.5:  # ... and not signing yet (checked only with time to spare)
        assert header_of(suite.password_token("alice"))["kid"] == old_kid

    time.sleep(max(0.0, activates_at - time.time()) + 0.1)
    after = suite.password_token("alice")
    assert header_of(after)["kid"] == new_kid

    for _ in range(5):
        for token in (before, after):
            assert suite.todos("GET", token=token).status_code == 200
    assert suite.metric("authz_jwks_fetches_total") == fetches + 1

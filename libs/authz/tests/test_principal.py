"""`Principal.from_claims`: who is calling, built from verified claims; `whoami()` shows it without the token."""

from __future__ import annotations

import json

import pytest

from authz import Kind, MalformedToken, Mode, Principal, Source

USER_SUB = "3f2b8c1e-7a4d-4e5f-9b60-a11ce0000001"
WHOAMI_KEYS = {
    "subject",
    "username",
    "kind",
    "client_id",
    "roles",
    "scopes",
    "actor",
    "audience",
    "mesh_peer",
    "mode",
    "source",
}


def claims(**overrides) -> dict:
    base = {
        "iss": "http://identity.test",
        "sub": USER_SUB,
        "aud": "todos",
        "iat": 1_700_000_000,
        "exp": 1_700_000_300,
        "jti": "5b1c0d2e",
        "client_id": "todo-cli",
        "scope": "todos:read todos:write",
        "roles": ["user"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


class TestKind:
    def test_user_when_sub_is_not_the_client(self):
        principal = Principal.from_claims(claims())

        assert principal.kind is Kind.USER
        assert principal.subject == USER_SUB
        assert principal.client_id == "todo-cli"

    def test_service_when_sub_is_the_client(self):
        principal = Principal.from_claims(claims(sub="reminders", client_id="reminders"))

        assert principal.kind is Kind.SERVICE
        assert principal.client_id == "reminders"

    def test_azp_stands_in_for_client_id(self):
        principal = Principal.from_claims(claims(sub="reminders", client_id=None, azp="reminders"))

        assert principal.kind is Kind.SERVICE
        assert principal.client_id == "reminders"

    def test_user_when_no_client_is_named(self):
        principal = Principal.from_claims(claims(client_id=None))

        assert principal.kind is Kind.USER
        assert principal.client_id is None


class TestScopesAndRoles:
    def test_scope_string_is_split(self):
        principal = Principal.from_claims(claims(scope="todos:read  todos:write shares:read"))

        assert principal.scopes == frozenset({"todos:read", "todos:write", "shares:read"})

    def test_no_scope_claim_means_no_scopes(self):
        assert Principal.from_claims(claims(scope=None)).scopes == frozenset()

    def test_roles(self):
        principal = Principal.from_claims(claims(roles=["user", "admin"]))

        assert principal.roles == frozenset({"user", "admin"})
        assert principal.has_role("admin")
        assert not principal.has_role("auditor")

    def test_a_roles_string_is_not_split_into_characters(self):
        assert Principal.from_claims(claims(roles="admin")).roles == frozenset()


class TestActorChain:
    def test_nested_act_outermost_first(self):
        act = {"sub": "reminders", "act": {"sub": "notifier", "act": {"sub": "scheduler"}}}

        principal = Principal.from_claims(claims(act=act))

        assert principal.actor == ("reminders", "notifier", "scheduler")
        assert principal.is_delegated
        assert principal.subject == USER_SUB

    def test_no_act_is_not_delegated(self):
        principal = Principal.from_claims(claims())

        assert principal.actor == ()
        assert not principal.is_delegated

    def test_chain_is_bounded(self):
        act: dict = {"sub": "actor-0"}
        for n in range(1, 40):
            act = {"sub": f"actor-{n}", "act": act}

        with pytest.raises(MalformedToken):
            Principal.from_claims(claims(act=act))

    @pytest.mark.parametrize("act", ["shares", {"client": "shares"}, {"sub": 7}, {"sub": "shares", "act": "gw"}])
    def test_a_malformed_act_is_refused_not_ignored(self, act):
        # Read leniently, a malformed act would make a delegated token look like the user's own.
        with pytest.raises(MalformedToken):
            Principal.from_claims(claims(act=act))


class TestAudienceAndProvenance:
    @pytest.mark.parametrize(("aud", "expected"), [("todos", ("todos",)), (["todos", "shares"], ("todos", "shares"))])
    def test_audience_is_a_tuple(self, aud, expected):
        assert Principal.from_claims(claims(aud=aud)).audience == expected

    def test_issuer_token_id_and_provenance(self):
        principal = Principal.from_claims(
            claims(), source=Source.SIGNED_HEADERS, mode=Mode.EXTRACT, mesh_peer="spiffe://todo-suite/gateway"
        )

        assert principal.issuer == "http://identity.test"
        assert principal.token_id == "5b1c0d2e"
        assert principal.source is Source.SIGNED_HEADERS
        assert principal.mode is Mode.EXTRACT
        assert principal.mesh_peer == "spiffe://todo-suite/gateway"

    def test_claims_are_a_copy(self):
        raw = claims()
        principal = Principal.from_claims(raw)
        raw["sub"] = "someone-else"

        assert principal.claims["sub"] == USER_SUB


class TestWhoami:
    def test_has_exactly_the_documented_keys(self):
        assert set(Principal.from_claims(claims()).whoami()) == WHOAMI_KEYS

    def test_values(self):
        principal = Principal.from_claims(
            claims(preferred_username="alice", roles=["user", "admin"], act={"sub": "reminders"})
        )

        assert principal.whoami() == {
            "subject": USER_SUB,
            "username": "alice",
            "kind": "user",
            "client_id": "todo-cli",
            "roles": ["admin", "user"],
            "scopes": ["todos:read", "todos:write"],
            "actor": ["reminders"],
            "audience": ["todos"],
            "mesh_peer": None,
            "mode": "passthrough",
            "source": "verified_token",
        }

    async def test_never_contains_the_token(self, verifier, issuer):
        token = issuer.token(username="alice", scope="todos:read")
        principal = Principal.from_claims(await verifier.verify(token))

        shown = json.dumps(principal.whoami())

        for part in [token, *token.split(".")]:
            assert part not in shown
        assert token not in repr(principal)
        assert "jti" not in shown

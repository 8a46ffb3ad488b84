"""The KeyRing on an injected clock: created once, persisted, rotated publish-first, retired, pruned."""

from __future__ import annotations

import jwt
import pytest
from sqlmodel import Session, SQLModel, select

from authz import UnknownKey
from identity.keys import KeyRing, RingKeySource
from identity.models import SigningKey
from servicekit import make_engine

PUBLISH_DELAY = 30.0
LIFETIME = 600
LEEWAY = 10
RETIRE_AFTER = LIFETIME + LEEWAY
CLAIMS = {"iss": "http://identity.test", "sub": "reminders", "aud": "todos", "iat": 0, "exp": 2**40, "jti": "j"}


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/keys.db")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_ring(engine, clock):
    def make(alg: str = "ES256") -> KeyRing:
        ring = KeyRing(
            engine, alg=alg, publish_delay=PUBLISH_DELAY, token_lifetime=LIFETIME, leeway=LEEWAY, clock=clock
        )
        ring.load()
        return ring

    return make


@pytest.fixture
def ring(make_ring) -> KeyRing:
    return make_ring()


def stored_kids(engine) -> list[str]:
    with Session(engine) as session:
        return [row.kid for row in session.exec(select(SigningKey).order_by(SigningKey.activates_at))]


def kids(keys) -> list[str]:
    return [k.kid for k in keys]


class TestLoad:
    def test_empty_database_gets_exactly_one_key(self, ring, engine, clock):
        assert len(stored_kids(engine)) == 1
        assert kids(ring.published()) == stored_kids(engine)
        assert ring.signing_key().kid == stored_kids(engine)[0]
        assert ring.signing_key().activates_at == clock.now

    def test_loading_again_adds_no_key(self, ring, engine):
        ring.load()

        assert len(stored_kids(engine)) == 1

    def test_a_restart_loads_the_same_key(self, ring, make_ring, engine):
        restarted = make_ring()

        assert restarted.signing_key().kid == ring.signing_key().kid
        assert restarted.jwks() == ring.jwks()
        assert len(stored_kids(engine)) == 1

    def test_a_restart_verifies_tokens_signed_before_it(self, ring, make_ring):
        token = ring.sign(CLAIMS)

        restarted = make_ring()
        key = restarted.find(jwt.get_unverified_header(token)["kid"])

        assert key is not None
        assert jwt.decode(token, key.pyjwk.key, algorithms=["ES256"], audience="todos")["sub"] == "reminders"


class TestRotate:
    def test_new_key_is_published_at_once(self, ring):
        old = ring.signing_key()

        new = ring.rotate()

        assert kids(ring.published()) == [old.kid, new.kid]
        assert [k["kid"] for k in ring.jwks()["keys"]] == [old.kid, new.kid]
        assert ring.find(new.kid) is new

    def test_new_key_signs_only_from_activates_at(self, ring, clock):
        old = ring.signing_key()

        new = ring.rotate()

        assert new.activates_at == clock.now + PUBLISH_DELAY
        assert ring.signing_key() is old
        clock.now = new.activates_at - 0.001
        assert ring.signing_key() is old
        assert jwt.get_unverified_header(ring.sign(CLAIMS))["kid"] == old.kid
        clock.now = new.activates_at
        assert ring.signing_key() is new
        assert jwt.get_unverified_header(ring.sign(CLAIMS))["kid"] == new.kid

    def test_pending_key_survives_a_restart(self, ring, make_ring, clock):
        old = ring.signing_key()
        new = ring.rotate()

        restarted = make_ring()

        assert kids(restarted.published()) == [old.kid, new.kid]
        assert restarted.signing_key().kid == old.kid
        clock.now = new.activates_at
        assert restarted.signing_key().kid == new.kid

    def test_two_rotations_in_a_row(self, ring, clock):
        first = ring.signing_key()
        second = ring.rotate()
        clock.now += 1
        third = ring.rotate()

        assert kids(ring.published()) == [first.kid, second.kid, third.kid]
        clock.now = third.activates_at
        assert ring.signing_key() is third


class TestRetire:
    def test_old_key_stays_until_its_tokens_have_expired(self, ring, clock):
        old = ring.signing_key()
        new = ring.rotate()

        clock.now = new.activates_at + RETIRE_AFTER - 0.001

        assert kids(ring.published()) == [old.kid, new.kid]
        assert ring.find(old.kid) is old

    def test_a_token_of_the_old_key_verifies_right_after_the_new_key_signs(self, ring, clock):
        # Rotation with no failed request: the last token the old key signed is still checked against it.
        new = ring.rotate()
        clock.now = new.activates_at - 0.001
        token = ring.sign(CLAIMS)
        clock.now = new.activates_at + 1

        key = ring.find(jwt.get_unverified_header(token)["kid"])

        assert key is not None, "a token signed with the old key fails right after rotation: its key left the JWKS"
        assert jwt.decode(token, key.pyjwk.key, algorithms=[key.alg], audience="todos")["sub"] == "reminders"

    def test_old_key_drops_out_after_lifetime_plus_leeway(self, ring, clock):
        old = ring.signing_key()
        new = ring.rotate()

        clock.now = new.activates_at + RETIRE_AFTER

        assert kids(ring.published()) == [new.kid]
        assert ring.find(old.kid) is None
        assert ring.signing_key() is new

    def test_prune_keeps_what_is_published(self, ring, engine, clock):
        ring.rotate()
        clock.now += PUBLISH_DELAY + RETIRE_AFTER - 1

        assert ring.prune() == 0
        assert len(stored_kids(engine)) == 2

    def test_prune_deletes_retired_keys(self, ring, make_ring, engine, clock):
        new = ring.rotate()
        clock.now = new.activates_at + RETIRE_AFTER

        assert ring.prune() == 1

        assert stored_kids(engine) == [new.kid]
        assert kids(ring.published()) == [new.kid]
        assert kids(make_ring().published()) == [new.kid]

    def test_prune_spares_a_key_another_instance_just_added(self, ring, make_ring, engine, clock):
        other = make_ring()
        other.load()
        added_elsewhere = other.rotate()

        assert ring.prune() == 0
        assert added_elsewhere.kid in stored_kids(engine)
        assert added_elsewhere.kid in kids(ring.published())


class TestSign:
    def test_header_names_the_key_and_the_token_type(self, ring):
        token = ring.sign(CLAIMS)

        header = jwt.get_unverified_header(token)
        assert header["kid"] == ring.signing_key().kid
        assert header["typ"] == "at+jwt"
        assert header["alg"] == "ES256"

    def test_verifies_with_the_published_jwk(self, ring):
        token = ring.sign(CLAIMS)

        key = jwt.PyJWKSet.from_dict(ring.jwks())[ring.signing_key().kid]

        assert jwt.decode(token, key, algorithms=["ES256"], audience="todos") == CLAIMS

    def test_published_jwk_has_no_private_part(self, ring):
        (jwk,) = ring.jwks()["keys"]

        assert jwk == {**jwk, "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"}
        assert "d" not in jwk

    def test_rs256(self, make_ring):
        ring = make_ring("RS256")

        token = ring.sign(CLAIMS)

        (jwk,) = ring.jwks()["keys"]
        assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
        header = jwt.get_unverified_header(token)
        assert (header["alg"], header["typ"], header["kid"]) == ("RS256", "at+jwt", jwk["kid"])
        key = jwt.PyJWKSet.from_dict(ring.jwks())[jwk["kid"]]
        assert jwt.decode(token, key, algorithms=["RS256"], audience="todos") == CLAIMS

    def test_rs256_key_survives_a_restart(self, make_ring):
        ring = make_ring("RS256")

        assert make_ring("RS256").jwks() == ring.jwks()


class TestRingKeySource:
    async def test_published_key(self, ring):
        source = RingKeySource(ring)

        key = await source.get(ring.signing_key().kid)

        assert key.key_id == ring.signing_key().kid

    async def test_pending_key_is_already_known(self, ring):
        new = ring.rotate()

        assert (await RingKeySource(ring).get(new.kid)).key_id == new.kid

    async def test_unknown_kid(self, ring):
        with pytest.raises(UnknownKey):
            await RingKeySource(ring).get("nope")

    async def test_retired_key_is_unknown(self, ring, clock):
        old = ring.signing_key()
        new = ring.rotate()
        clock.now = new.activates_at + RETIRE_AFTER

        with pytest.raises(UnknownKey):
            await RingKeySource(ring).get(old.kid)

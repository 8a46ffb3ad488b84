"""Throttled guessing: failed logins per username and per client address, bounded backoff, 429 + Retry-After."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import identity.realm
from identity.app import create_app
from identity.throttle import Backoff, FailureCounter, LoginThrottle, TooManyAttempts

BACKOFF = Backoff(free_failures=3, base_delay=1.0, max_delay=8.0, forget_after=60.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestBackoff:
    def test_free_then_doubling_then_bounded(self):
        assert [BACKOFF.delay(n) for n in range(1, 10)] == [0, 0, 1, 2, 4, 8, 8, 8, 8]


class TestFailureCounter:
    def test_waits_after_the_free_failures_and_forgets(self):
        clock = Clock()
        counter = FailureCounter(BACKOFF, clock=clock)
        for _ in range(3):
            assert counter.wait("alice") == 0
            counter.fail("alice")

        assert counter.wait("alice") == 1.0
        clock.now += 1.0
        assert counter.wait("alice") == 0
        clock.now += 60.5
        counter.fail("alice")  # the old failures are forgotten: this is the first again
        assert counter.wait("alice") == 0

    def test_bounded_memory(self):
        counter = FailureCounter(BACKOFF, max_keys=3, clock=Clock())
        for name in ("a", "b", "c", "d"):
            for _ in range(5):
                counter.fail(name)

        assert counter.wait("a") == 0  # dropped first
        assert counter.wait("d") > 0


def throttle(clock: Clock, *, user_free: int = 3, address_free: int = 10) -> LoginThrottle:
    def counter(free: int) -> FailureCounter:
        return FailureCounter(Backoff(free, 1.0, 8.0, 60.0), clock=clock)

    return LoginThrottle(counter(user_free), counter(address_free))


class TestLoginThrottle:
    def test_a_guesser_of_one_user_is_refused_whatever_the_address(self):
        clock = Clock()
        limiter = throttle(clock)
        for i in range(3):
            limiter.begin("alice", f"10.0.0.{i}")  # each counts as failed until it succeeds

        with pytest.raises(TooManyAttempts) as refused:
            limiter.begin("alice", "10.0.0.99")
        assert refused.value.retry_after == 1
        limiter.begin("bob", "10.0.0.99")  # another user from a fresh address is not held up

    def test_one_address_guessing_many_users_is_refused(self):
        limiter = throttle(Clock())
        for i in range(10):
            limiter.begin(f"user{i}", "203.0.113.7")

        with pytest.raises(TooManyAttempts):
            limiter.begin("someone-new", "203.0.113.7")
        limiter.begin("someone-new", "198.51.100.1")

    def test_a_success_clears_the_user_but_not_the_address(self):
        limiter = throttle(Clock(), address_free=100)
        for _ in range(2):
            limiter.begin("alice", "10.0.0.1")
        limiter.begin("alice", "10.0.0.1").succeeded()

        assert limiter.by_username.wait("alice") == 0
        for _ in range(2):
            limiter.begin("alice", "10.0.0.1")  # free failures again
        assert limiter.by_username.wait("alice") == 0
        assert limiter.by_address._records["10.0.0.1"].failures == 4  # the success took back only itself

    def test_the_longest_wait_is_the_bound(self):
        clock = Clock()
        limiter = throttle(clock, address_free=1000)
        longest = 0
        for _ in range(200):
            try:
                limiter.begin("alice", "10.0.0.1")
            except TooManyAttempts as e:
                longest = max(longest, e.retry_after)
                clock.now += e.retry_after
        assert longest == 8

    def test_off(self):
        limiter = throttle(Clock())
        limiter.enabled = False
        for _ in range(50):
            limiter.begin("alice", "10.0.0.1")


WRONG = "not-the-password"


def guess(client, username: str, password: str = WRONG, **headers: str):
    form = {"grant_type": "password", "client_id": "todo-cli", "username": username, "password": password}
    return client.post("/token", data=form, headers=headers)


@pytest.fixture
def throttled(make_settings, make_client):
    settings = make_settings(
        login_throttle_user_free_failures=3,
        login_throttle_address_free_failures=8,
        login_throttle_base_delay_seconds=30,
        login_throttle_max_delay_seconds=60,
    )
    with make_client(settings) as client:
        yield client


class TestTokenEndpoint:
    def test_wrong_passwords_then_429_with_retry_after_as_a_problem(self, throttled, oauth_error, problem):
        for _ in range(3):
            oauth_error(guess(throttled, "alice"), "invalid_grant")

        for _ in range(20):
            response = guess(throttled, "alice")
            body = problem(response, 429, "too-many-login-attempts")
            assert 1 <= int(response.headers["retry-after"]) <= 30
            assert body["retry_after"] == int(response.headers["retry-after"])
            assert response.headers["cache-control"] == "no-store"

        # Even the right password waits: the check comes before the password (and costs no hash).
        problem(guess(throttled, "alice", "alice"), 429, "too-many-login-attempts")

    def test_an_unknown_username_is_throttled_alike(self, throttled, oauth_error, problem):
        for _ in range(3):
            oauth_error(guess(throttled, "mallory"), "invalid_grant")

        problem(guess(throttled, "mallory"), 429, "too-many-login-attempts")

    def test_the_per_address_limit(self, throttled, oauth_error, problem):
        for name in ("u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"):  # 8 failures, 2 per user
            oauth_error(guess(throttled, name), "invalid_grant")

        problem(guess(throttled, "bob", "bob"), 429, "too-many-login-attempts")

    def test_a_good_login_is_not_counted(self, throttled, password_token):
        for _ in range(10):
            password_token(throttled, "carol")

    @pytest.mark.parametrize(("peer", "believed"), [("10.1.2.3", True), ("192.0.2.1", False), ("testclient", False)])
    def test_a_forwarded_address_only_from_a_trusted_proxy(
        self, make_settings, client_secrets, oauth_error, problem, peer, believed
    ):
        settings = make_settings(
            login_throttle_user_free_failures=100,
            login_throttle_address_free_failures=2,
            login_throttle_base_delay_seconds=30,
            client_address_header="X-Forwarded-For",
            trusted_proxies=["10.0.0.0/8"],
        )
        with TestClient(create_app(settings), client=(peer, 40000)) as client:
            for i in range(2):
                oauth_error(guess(client, f"u{i}", **{"X-Forwarded-For": f"spoofed, 198.51.100.{i}"}), "invalid_grant")

            response = guess(client, "u9", **{"X-Forwarded-For": "198.51.100.9"})

        if believed:  # three addresses (the last entry each time, which the proxy wrote), none over its limit
            oauth_error(response, "invalid_grant")
        else:  # the header is ignored: one address, the peer, and it is over its limit
            problem(response, 429, "too-many-login-attempts")


class TestSameCost:
    """Unknown and known usernames cost one hash each; a refused attempt costs none (no timing oracle)."""

    @pytest.fixture
    def hashes(self, monkeypatch) -> list[bytes]:
        seen: list[bytes] = []
        original = identity.realm._hash_password

        def counting(password: str, salt: bytes) -> bytes:
            seen.append(salt)
            return original(password, salt)

        monkeypatch.setattr(identity.realm, "_hash_password", counting)
        return seen

    def test_one_hash_each(self, throttled, hashes, problem):
        guess(throttled, "alice")
        guess(throttled, "nobody-by-this-name")
        assert len(hashes) == 2

        for _ in range(2):
            guess(throttled, "alice"), guess(throttled, "nobody-by-this-name")
        hashes.clear()
        problem(guess(throttled, "alice"), 429, "too-many-login-attempts")
        problem(guess(throttled, "nobody-by-this-name"), 429, "too-many-login-attempts")
        assert hashes == []

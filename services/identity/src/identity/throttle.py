"""Throttled guessing: failed logins slow down per username and per client address, with a bounded backoff.

Every login form uses it the same way (the password grant now, the browser login page later):

    attempt = throttle.begin(username, address)   # raises TooManyAttempts (429) while either key waits
    user = await hash_pool.run(realm.authenticate_user, username, password)
    if user is None: ...                           # the failure is already counted
    else: attempt.succeeded()

An attempt counts as a failure from the moment it begins, so forty guesses sent at once are forty
failures, not forty free tries that all passed the check before the first hash finished. A success
takes its count back. A refused attempt costs no hash and counts nothing, so it neither extends a wait
nor lets the guesser spend identity's CPU. After the free failures, the n-th further one makes the key
wait `base * 2**n`, capped at `max_delay`: the longest one guess can keep a real user waiting.

State lives in this process (two bounded tables): right for the one identity replica the suite runs.
Several replicas would each count on their own; they would need a shared store (Redis, the database).
Ref: OWASP Authentication Cheat Sheet, "Protect Against Automated Attacks".
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

import authz
from identity.settings import Settings


@dataclass(frozen=True)
class Backoff:
    """When a key must wait: `free_failures` failures cost nothing; from then on each failure makes the key
    wait `base_delay`, doubling per further failure, never more than `max_delay`."""

    free_failures: int
    base_delay: float
    max_delay: float
    forget_after: float

    def delay(self, failures: int) -> float:
        beyond = failures - self.free_failures
        if beyond < 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(beyond, 32))


@dataclass
class _Record:
    failures: int
    last_failure: float


class FailureCounter:
    """Failures per key (a username, an address) and how long each key must still wait.

    At most `max_keys` keys are kept, the least recently failed dropped first: a flood of made-up
    usernames costs bounded memory (a dropped key starts afresh, which the per-address count covers).
    """

    def __init__(self, backoff: Backoff, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.backoff = backoff
        self._max_keys = max_keys
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _current(self, key: str) -> _Record | None:
        record = self._records.get(key)
        if record is not None and self._clock() - record.last_failure > self.backoff.forget_after:
            del self._records[key]
            return None
        return record

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again (0: now)."""
        record = self._current(key)
        if record is None:
            return 0.0
        return max(0.0, record.last_failure + self.backoff.delay(record.failures) - self._clock())

    def fail(self, key: str) -> None:
        record = self._current(key) or _Record(0, 0.0)
        record.failures += 1
        record.last_failure = self._clock()
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self._max_keys:
            self._records.popitem(last=False)

    def take_back(self, key: str) -> None:
        """One failure was not one after all (the attempt succeeded)."""
        record = self._records.get(key)
        if record is not None:
            record.failures = max(0, record.failures - 1)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)


class TooManyAttempts(Exception):
    """Refused before the password was checked: this username or address must wait `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins: try again in {math.ceil(retry_after)} s")
        #: Whole seconds, as `Retry-After` wants them (RFC 9110 section 10.2.3), at least 1.
        self.retry_after = max(1, math.ceil(retry_after))

    def response(self) -> authz.ProblemResponse:
        # A problem (RFC 9457), not an RFC 6749 error: 429 is outside the token endpoint's error set, and
        # the same answer serves the browser login page. `Retry-After` says when to come back.
        return authz.problem(
            429,
            "too-many-login-attempts",
            str(self),
            headers={"Retry-After": str(self.retry_after), "Cache-Control": "no-store"},
            retry_after=self.retry_after,
        )


class Attempt:
    """A login attempt under way, counted as failed until `succeeded()` says otherwise."""

    def __init__(self, throttle: LoginThrottle, username: str, address: str) -> None:
        self._throttle, self._username, self._address = throttle, username, address

    def succeeded(self) -> None:
        # The user's count starts afresh; the address keeps its other failures (one valid login must
        # not wipe what a guesser on the same address did).
        self._throttle.by_username.forget(self._username)
        self._throttle.by_address.take_back(self._address)


class LoginThrottle:
    """Failed logins, per username and per client address. `begin()` refuses or counts an attempt."""

    def __init__(self, by_username: FailureCounter, by_address: FailureCounter, *, enabled: bool = True) -> None:
        self.by_username = by_username
        self.by_address = by_address
        self.enabled = enabled

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> LoginThrottle:
        def backoff(free: int) -> Backoff:
            return Backoff(
                free_failures=free,
                base_delay=settings.login_throttle_base_delay_seconds,
                max_delay=settings.login_throttle_max_delay_seconds,
                forget_after=settings.login_throttle_forget_after_seconds,
            )

        return cls(
            FailureCounter(backoff(settings.login_throttle_user_free_failures), clock=clock),
            FailureCounter(backoff(settings.login_throttle_address_free_failures), clock=clock),
            enabled=settings.login_throttle_enabled,
        )

    def begin(self, username: str, address: str) -> Attempt:
        """Refuse (TooManyAttempts) while the username or the address must wait; else count the attempt.

        A username identity does not know is throttled exactly like one it knows, so a 429 tells nothing.
        """
        # Usernames are matched as the realm matches them (exactly); the key is bounded in size.
        username = username[:256]
        if self.enabled:
            wait = max(self.by_username.wait(username), self.by_address.wait(address))
            if wait > 0:
                raise TooManyAttempts(wait)
            self.by_username.fail(username)
            self.by_address.fail(address)
        return Attempt(self, username, address)


def client_address(request: Request, settings: Settings) -> str:
    """Who is logging in: the socket peer, or — when the peer is a trusted proxy and
    `IDENTITY_CLIENT_ADDRESS_HEADER` is set — the last entry of that header, the one the proxy wrote.

    Locally everything comes from 127.0.0.1, and a workshop behind one ingress shares its address: the
    per-address limit is set higher than the per-username one for that reason.
    """
    peer = request.client.host if request.client else "unknown"
    if not settings.client_address_header:
        return peer
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(peer_ip in network for network in settings.trusted_proxies):
        return peer
    forwarded = request.headers.get(settings.client_address_header, "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer

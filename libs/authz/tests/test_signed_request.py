"""`extract`'s signed request: bound to the service, the method, the canonical target and the body; fresh
within `-skew <= age <= max + skew`; each nonce once; keys of at least 32 bytes — and the canonical target."""

from __future__ import annotations

import pytest
from starlette.requests import Request

import authz
from authz import AuthzSettings, ConfigurationError, Mode, NonceCache, SignedIdentity, SignedRequest, TokenVerifier
from authz._signed_headers import CLOCK_SKEW_SECONDS
from authz.modes import SERVICE_MODES

KEY = b"k" * 32
ALICE = SignedIdentity("u-alice", "alice", ("user",), ("todos:read",))
GET = SignedRequest("GET", "/todos/1?x=1", b"")
NOW = 1_000_000.0


def _sign(request: SignedRequest = GET, *, now: float = NOW, service: str = "todos", key: bytes = KEY, **kw):
    return authz.sign_identity(ALICE, key=key, service=service, request=request, now=now, **kw)


def _verify(headers, request: SignedRequest = GET, *, now: float = NOW, service: str = "todos", key: bytes = KEY):
    return authz.verify_identity(headers, key=key, service=service, request=request, now=now, max_age_seconds=30)


class TestTheSignatureCoversTheRequest:
    def test_the_request_as_signed_passes(self):
        verified = _verify(_sign())

        assert verified.identity == ALICE
        assert verified.fresh_until == NOW + 30 + CLOCK_SKEW_SECONDS

    @pytest.mark.parametrize(
        "other",
        [
            SignedRequest("DELETE", "/todos/1?x=1", b""),
            SignedRequest("GET", "/todos/2?x=1", b""),
            SignedRequest("GET", "/todos/1?x=2", b""),
            SignedRequest("GET", "/todos/1", b""),
            SignedRequest("GET", "/todos/1?x=1", b"{}"),
        ],
    )
    def test_another_method_target_or_body_is_refused(self, other):
        with pytest.raises(authz.InvalidSignature):
            _verify(_sign(), other)

    def test_another_service_or_key_is_refused(self):
        with pytest.raises(authz.InvalidSignature):
            _verify(_sign(), service="shares")
        with pytest.raises(authz.InvalidSignature):
            _verify(_sign(), key=b"x" * 32)

    @pytest.mark.parametrize("header", ["x-user-id", "x-roles", "x-scopes", "x-gateway-timestamp", "x-gateway-nonce"])
    def test_any_changed_value_is_refused(self, header):
        headers = {**_sign(), header: "changed"}
        with pytest.raises(authz.InvalidSignature):
            _verify(headers)

    def test_a_missing_nonce_is_refused(self):
        headers = _sign()
        del headers["x-gateway-nonce"]
        with pytest.raises(authz.InvalidSignature, match="x-gateway-nonce"):
            _verify(headers)


class TestFreshness:
    @pytest.mark.parametrize("age", [0, 30, 30 + CLOCK_SKEW_SECONDS, -CLOCK_SKEW_SECONDS])
    def test_within_the_window(self, age):
        assert _verify(_sign(now=NOW - age)).identity == ALICE

    def test_too_old(self):
        with pytest.raises(authz.ExpiredToken):
            _verify(_sign(now=NOW - 30 - CLOCK_SKEW_SECONDS - 1))

    def test_from_the_future_is_not_abs_age(self):
        with pytest.raises(authz.TokenNotYetValid):
            _verify(_sign(now=NOW + CLOCK_SKEW_SECONDS + 1))
        with pytest.raises(authz.TokenNotYetValid):
            _verify(_sign(now=NOW + 20))  # abs(age) would have let this pass


class TestNonces:
    def test_each_nonce_once(self):
        cache = NonceCache(10)
        cache.use("n1", NOW + 30, now=NOW)
        with pytest.raises(authz.ReplayedSignature):
            cache.use("n1", NOW + 30, now=NOW + 1)

    def test_a_stale_nonce_is_forgotten_so_memory_stays_bounded(self):
        cache = NonceCache(2)
        cache.use("n1", NOW + 30, now=NOW)
        cache.use("n2", NOW + 31, now=NOW)
        with pytest.raises(authz.ReplayCacheFull):
            cache.use("n3", NOW + 40, now=NOW + 10)  # both still fresh: refuse rather than forget one early
        cache.use("n3", NOW + 70, now=NOW + 31.5)  # n1 and n2 are stale by now
        assert len(cache) == 1

    def test_each_request_gets_its_own_nonce(self):
        assert _sign()["x-gateway-nonce"] != _sign()["x-gateway-nonce"]


class TestKeys:
    @pytest.mark.parametrize(("key", "match"), [(None, "is empty"), ("", "is empty"), ("   \t", "is empty"),
                                                ("k" * 31, "is 31 bytes long")])  # fmt: skip
    def test_weak_keys_are_refused_naming_the_setting(self, key, match):
        with pytest.raises(ConfigurationError, match=f"AUTHZ_EXTRACT_KEY {match}"):
            authz.check_key(key, "AUTHZ_EXTRACT_KEY")

    @pytest.mark.parametrize("key", [None, "", " " * 40, "short"])
    def test_a_service_does_not_start_in_extract_with_a_weak_key(self, key):
        settings = AuthzSettings.for_service("todos", mode=Mode.EXTRACT, extract_key=key)
        verifier = TokenVerifier(authz.StaticKeySource({}), issuer="http://identity.test", audience="todos")
        with pytest.raises(ConfigurationError, match="AUTHZ_EXTRACT_KEY"):
            authz.Authenticator(settings, verifier)


class TestCanonicalTarget:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("/todos/1", "/todos/1"),
            ("/todos//1///x", "/todos/1/x"),
            ("/%74odos/%7e%7E", "/todos/~~"),
            ("/todos/a%2fb%3f", "/todos/a%2Fb%3F"),
            ("/todos/it's(1)", "/todos/it's(1)"),
        ],
    )
    def test_one_form(self, raw, canonical):
        assert authz.canonical_path(raw) == canonical
        assert authz.canonical_path(canonical) == canonical  # a fixed point: a second hop changes nothing

    @pytest.mark.parametrize("raw", ["/todos/..", "/todos/%2e%2E/x", "/./x", "/a b", "/a%zz", "/a%4", "/é", "a"])
    def test_no_canonical_form(self, raw):
        with pytest.raises(authz.BadTarget):
            authz.canonical_path(raw)

    def test_the_query_is_kept_as_sent_when_it_is_allowed(self):
        assert authz.canonical_target("/todos", "a=%2a&b=c/d?e") == "/todos?a=%2a&b=c/d?e"
        with pytest.raises(authz.BadTarget):
            authz.canonical_target("/todos", "a=<b>")


async def test_the_service_checks_what_it_received():
    """A request reaches the extract mode's inbound as ASGI: the target comes from its raw path and query,
    the body from the request itself."""
    settings = AuthzSettings.for_service("todos", mode=Mode.EXTRACT, extract_key="k" * 32)
    verifier = TokenVerifier(authz.StaticKeySource({}), issuer="http://identity.test", audience="todos")
    inbound = authz.Authenticator(settings, verifier).inbound
    signed = SignedRequest("POST", "/todos/a~?x=1", b'{"t": 1}')
    headers = authz.sign_identity(ALICE, key=b"k" * 32, service="todos", request=signed)

    def request(raw_path: bytes, method: str = "POST") -> Request:
        scope = {"type": "http", "method": method, "path": raw_path.decode(), "raw_path": raw_path,
                 "query_string": b"x=1", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}  # fmt: skip

        async def receive():
            return {"type": "http.request", "body": b'{"t": 1}', "more_body": False}

        return Request(scope, receive)

    with pytest.raises(authz.InvalidSignature):
        await inbound.principal(request(b"/todos/a~", "PUT"), None)
    # The same request after a sidecar's normalisation (an escaped unreserved character, a doubled slash).
    principal = await inbound.principal(request(b"/todos//a%7E"), None)
    assert (principal.subject, principal.source) == ("u-alice", authz.Source.SIGNED_HEADERS)
    with pytest.raises(authz.ReplayedSignature):
        await inbound.principal(request(b"/todos/a~"), None)


def test_every_mode_has_one_module_at_the_service():
    assert set(SERVICE_MODES) == set(Mode)
    for mode, spec in SERVICE_MODES.items():
        assert spec.mode is mode
        assert spec.build.__module__ == f"authz.modes.{mode.value}"

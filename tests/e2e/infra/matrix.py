"""The attack matrix: for each boundary mode, which attacks fail and which — honestly — succeed.

This is data, so that `python -m tests.e2e.infra.render_modes` can write docs/boundary-modes.md from it
and tests/e2e/test_attack_matrix.py can run every cell against the real suite. Changing an expectation
means changing the doc too (a test fails when the doc is stale).
"""

from __future__ import annotations

from dataclasses import dataclass

REFUSED = "refused"
ACCEPTED = "accepted"


@dataclass(frozen=True)
class ModeInfo:
    name: str
    built: bool
    gateway: str
    service_sees: str
    cost: str


MODES: tuple[ModeInfo, ...] = (
    ModeInfo(
        "trust", True,
        "validates the edge JWT, forwards it unchanged",
        "the JWT, decoded without checking its signature (claims still checked); `source: unverified_token`",
        "cheapest per hop (no signature check); without the mesh, anyone who reaches a service is anyone",
    ),
    ModeInfo(
        "passthrough", True,
        "validates the edge JWT, forwards it unchanged",
        "the JWT, verified fully against identity's JWKS; `source: verified_token`",
        "one signature check per hop (cached per token); the edge token names every API, so it replays",
    ),
    ModeInfo(
        "reissue", False,
        "validates the edge JWT, mints a short-lived token for the one target service",
        "the gateway's internal token (`iss` = gateway, `aud` = this service only)",
        "a signature per request at the gateway (cached per user and target); a second key to run",
    ),
    ModeInfo(
        "extract", True,
        "validates and strips the edge JWT; sends X-User-Id / X-User-Name / X-Roles / X-Scopes signed "
        "(HMAC, a key per service) with the target and a timestamp",
        "signed headers, checked in constant time, refused when stale or made for another service; "
        "`source: signed_headers`",
        "an HMAC instead of a signature; a key per service to distribute; services lose the token, so "
        "`shares` falls back to a trusted subsystem (its own token + X-On-Behalf-Of)",
    ),
    ModeInfo(
        "phantom", False,
        "receives an opaque token, resolves it at identity (cached within a bound), forwards the JWT",
        "the JWT, verified as in passthrough",
        "one introspection per token per cache window; revocation takes effect within the bound",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Attack:
    id: str
    title: str
    #: mode -> (expected outcome, why)
    expect: dict[str, tuple[str, str]]


def _all(outcome: str, why: str) -> dict[str, tuple[str, str]]:
    return {m.name: (outcome, why) for m in MODES if m.built}


ATTACKS: tuple[Attack, ...] = (
    Attack("no-token", "no token at the gateway", _all(REFUSED, "401: every mode validates at the edge")),
    Attack("expired", "an expired (validly signed) token at the gateway", _all(REFUSED, "401 expired-token")),
    Attack("wrong-audience", "a token for `shares` sent to `/api/todos`",
           _all(REFUSED, "401: the edge token must name the routed service")),
    Attack("wrong-issuer", "a token signed with identity's key but another `iss`", _all(REFUSED, "401 wrong-issuer")),
    Attack("alg-none", "`alg: none` at the gateway", _all(REFUSED, "401: asymmetric algorithms only")),
    Attack("key-confusion", "HS256 signed with identity's public key as the secret",
           _all(REFUSED, "401: HMAC is never in the allowlist")),
    Attack("forged-signature", "a token signed by a key identity never had", _all(REFUSED, "401 invalid-signature")),
    Attack("spoof-headers-at-gateway", "alice's token plus `X-User-Id: bob` (and friends) at the gateway",
           _all(REFUSED, "the gateway drops every client-sent identity header: alice stays alice")),
    Attack("spoof-headers-at-service", "`X-User-Id: bob` sent straight to todos, unsigned",
           _all(REFUSED, "401: no token, or (extract) no valid signature")),
    Attack("signature-for-other-service", "headers signed for `shares`, sent straight to todos", {
        "trust": (REFUSED, "401: headers are ignored, there is no token"),
        "passthrough": (REFUSED, "401: headers are ignored, there is no token"),
        "extract": (REFUSED, "401: the signature covers the target service"),
    }),
    Attack("stale-signature", "headers signed for todos two minutes ago, replayed straight to todos", {
        "trust": (REFUSED, "401: headers are ignored, there is no token"),
        "passthrough": (REFUSED, "401: headers are ignored, there is no token"),
        "extract": (REFUSED, "401: the signature is older than 30 s"),
    }),
    Attack("valid-signature-key-holder", "headers signed with todos' own key, straight to todos", {
        "trust": (REFUSED, "401: headers are ignored, there is no token"),
        "passthrough": (REFUSED, "401: headers are ignored, there is no token"),
        "extract": (ACCEPTED, "whoever holds a service's key is the gateway to it: guard the keys"),
    }),
    Attack("forged-token-at-service", "a forged token sent straight to todos", {
        "trust": (ACCEPTED, "without the mesh todos cannot tell the gateway from anyone, and does not verify"),
        "passthrough": (REFUSED, "401 invalid-signature: every service verifies"),
        "extract": (REFUSED, "401: a user is known only from signed headers"),
    }),
    Attack("edge-token-replay", "a service replays alice's edge token at another service (todos)", {
        "trust": (ACCEPTED, "the edge token names every API behind the gateway"),
        "passthrough": (ACCEPTED, "the edge token names every API behind the gateway (reissue closes this)"),
        "extract": (REFUSED, "401: services never see the token, and todos refuses user bearer tokens"),
    }),
    Attack("exchanged-token-elsewhere", "a delegated token for todos used at shares",
           _all(REFUSED, "401 wrong-audience: an exchanged token names one audience")),
    Attack("on-behalf-of-wrong-client", "reminders' own token plus `X-On-Behalf-Of: alice`, straight to todos",
           _all(REFUSED, "403: only shares may speak for a user, and only in extract")),
    Attack("on-behalf-of-stolen-shares-secret", "shares' own token plus `X-On-Behalf-Of: alice`, straight to todos", {
        "trust": (REFUSED, "403: X-On-Behalf-Of is ignored outside extract; shares alone is a service"),
        "passthrough": (REFUSED, "403: X-On-Behalf-Of is ignored outside extract; shares alone is a service"),
        "extract": (ACCEPTED, "the trusted-subsystem fallback: shares' secret speaks for any user it names"),
    }),
)  # fmt: skip


def cells() -> list[tuple[str, str]]:
    """Every (mode, attack) pair with an expectation, for the built modes."""
    return [(mode, attack.id) for attack in ATTACKS for mode in attack.expect]


def built_modes() -> list[str]:
    return [m.name for m in MODES if m.built]

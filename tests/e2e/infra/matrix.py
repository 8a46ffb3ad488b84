"""The attack matrix: for each boundary mode, which attacks fail and which — honestly — succeed.

This is data, so that `python -m tests.e2e.infra.render_modes` can write docs/boundary-modes.md from it
and tests/e2e/test_attack_matrix.py can run every cell against the real suite. Changing an expectation
means changing the doc too (a test fails when the doc is stale).
"""

from __future__ import annotations

from dataclasses import dataclass

from authz import Mode

#: The phantom cache bound in the e2e suites: the matrix waits it out before using a revoked token.
PHANTOM_CACHE_SECONDS = 1.5

REFUSED = "refused"
ACCEPTED = "accepted"


#: What each mode costs, in words. What the gateway and a service do in each mode is said by the modes
#: themselves (`gateway.modes.<mode>`, `authz.modes.<mode>`: their `summary`), and rendered from there.
COST: dict[str, str] = {
    "trust": "cheapest per hop (no signature check); without the mesh, anyone who reaches a service is anyone",
    "passthrough": "one signature check per hop (cached per token); the edge token names every API, so it replays",
    "reissue": "an ES256 signature per user, service and ~20 s at the gateway, one more verification key per "
    "service; a second issuer to run (its key must be shared by replicas); a leaked internal token is good at "
    "one service for seconds",
    "extract": "an HMAC and a SHA-256 of the body per request instead of a signature; a key per service to "
    "distribute; a nonce per request to remember at each service for the freshness window (30 s + 2 s); "
    "services lose the token, so `shares` falls back to a trusted subsystem (its own token + X-On-Behalf-Of)",
    "phantom": "one introspection per token per cache window (identity on the request path); revocation works, "
    "within the bound (30 s; 1.5 s in the tests); the JWT inside still names every API",
}


def built_modes() -> list[str]:
    """Every boundary mode (the registries have one module per mode and side; tests check they agree)."""
    return [mode.value for mode in Mode]


@dataclass(frozen=True)
class Attack:
    id: str
    title: str
    #: mode -> (expected outcome, why)
    expect: dict[str, tuple[str, str]]


def _all(outcome: str, why: str, **other_reason: str) -> dict[str, tuple[str, str]]:
    """The same outcome in every built mode; `mode="why"` where the reason differs."""
    return {mode: (outcome, other_reason.get(mode, why)) for mode in built_modes()}


#: Why a JWT presented at a phantom gateway fails, whatever is wrong with it.
_OPAQUE_ONLY = "401: the gateway takes opaque tokens only, so any JWT at the edge is refused unread"


ATTACKS: tuple[Attack, ...] = (
    Attack("no-token", "no token at the gateway", _all(REFUSED, "401: every mode validates at the edge")),
    Attack("expired", "an expired (validly signed) token at the gateway",
           _all(REFUSED, "401 expired-token", phantom=_OPAQUE_ONLY)),
    Attack("wrong-audience", "a token for `shares` sent to `/api/todos`",
           _all(REFUSED, "401: the edge token must name the routed service")),
    Attack("wrong-issuer", "a token signed with identity's key but another `iss`",
           _all(REFUSED, "401 wrong-issuer", phantom=_OPAQUE_ONLY)),
    Attack("alg-none", "`alg: none` at the gateway",
           _all(REFUSED, "401: asymmetric algorithms only", phantom=_OPAQUE_ONLY)),
    Attack("key-confusion", "HS256 signed with identity's public key as the secret",
           _all(REFUSED, "401: HMAC is never in the allowlist", phantom=_OPAQUE_ONLY)),
    Attack("forged-signature", "a token signed by a key identity never had",
           _all(REFUSED, "401 invalid-signature", phantom=_OPAQUE_ONLY)),
    Attack("spoof-headers-at-gateway", "alice's token plus `X-User-Id: bob` (and friends) at the gateway",
           _all(REFUSED, "the gateway drops every client-sent identity header: alice stays alice")),
    Attack("spoof-headers-at-service", "`X-User-Id: bob` sent straight to todos, unsigned",
           _all(REFUSED, "401: no token, or (extract) no valid signature")),
    Attack("signature-for-other-service", "headers signed for `shares`, sent straight to todos", {
        "trust": (REFUSED, "401: headers are ignored, there is no token"),
        "passthrough": (REFUSED, "401: headers are ignored, there is no token"),
        "reissue": (REFUSED, "401: headers are ignored, there is no token"),
        "extract": (REFUSED, "401: the signature covers the target service"),
        "phantom": (REFUSED, "401: headers are ignored, there is no token"),
    }),
    Attack("stale-signature", "headers signed for todos two minutes ago, replayed straight to todos", {
        "trust": (REFUSED, "401: headers are ignored, there is no token"),
        "passthrough": (REFUSED, "401: headers are ignored, there is no token"),
        "reissue": (REFUSED, "401: headers are ignored, there is no token"),
        "extract": (REFUSED, "401: the signature is older than 30 s"),
        "phantom": (REFUSED, "401: headers are ignored, there is no token"),
    }),
    Attack("valid-signature-key-holder", "headers signed with todos' own key, straight to todos", {
        "trust": (REFUSED, "401: headers are ignored, there is no token"),
        "passthrough": (REFUSED, "401: headers are ignored, there is no token"),
        "reissue": (REFUSED, "401: headers are ignored, there is no token"),
        "extract": (ACCEPTED, "whoever holds a service's key is the gateway to it: guard the keys"),
        "phantom": (REFUSED, "401: headers are ignored, there is no token"),
    }),
    Attack("forged-token-at-service", "a forged token sent straight to todos", {
        "trust": (ACCEPTED, "without the mesh todos cannot tell the gateway from anyone, and does not verify"),
        "passthrough": (REFUSED, "401 invalid-signature: every service verifies"),
        "reissue": (REFUSED, "401: verified with identity's keys (or the gateway's, if it claims that iss)"),
        "extract": (REFUSED, "401: a user is known only from signed headers"),
        "phantom": (REFUSED, "401 invalid-signature: every service verifies"),
    }),
    Attack("edge-token-replay", "alice's edge token sent straight to todos, past the gateway", {
        "trust": (ACCEPTED, "the edge token names every API behind the gateway"),
        "passthrough": (ACCEPTED, "the edge token names every API behind the gateway (reissue closes this)"),
        "reissue": (REFUSED, "401: a user's token from identity is refused; users come only from the gateway"),
        "extract": (REFUSED, "401: services never see the token, and todos refuses user bearer tokens"),
        "phantom": (REFUSED, "401: the client's token is opaque; services take JWTs only"),
    }),
    Attack("received-credential-at-gateway",
           "what a compromised service received from the gateway, replayed at the gateway", {
        "trust": (ACCEPTED, "it received alice's edge token itself: it can be alice at the edge until it expires"),
        "passthrough": (ACCEPTED, "it received alice's edge token itself: it can be alice at the edge until it "
                                  "expires"),
        "reissue": (REFUSED, "401 wrong-issuer: the gateway takes only identity's tokens, not its own"),
        "extract": (REFUSED, "401: it received headers, not a token, and the gateway drops client-sent ones"),
        "phantom": (REFUSED, "401: the gateway takes opaque tokens only; a JWT at the edge has leaked"),
    }),
    Attack("received-credential-at-other-service",
           "what a compromised service received for todos, replayed straight at shares", {
        "trust": (ACCEPTED, "alice's edge token names every API"),
        "passthrough": (ACCEPTED, "alice's edge token names every API"),
        "reissue": (REFUSED, "401 wrong-audience: the internal token names todos alone"),
        "extract": (REFUSED, "401: the signature covers the target service, with that service's key"),
        "phantom": (ACCEPTED, "the JWT inside is alice's edge JWT, which names every API"),
    }),
    Attack("revoked-edge-token", "alice's edge token, revoked at identity (RFC 7009), at the gateway once the "
           "phantom cache bound has passed", {
        "trust": (ACCEPTED, "JWTs are checked locally: a revoked one is good until it expires (keep them short)"),
        "passthrough": (ACCEPTED, "JWTs are checked locally: a revoked one is good until it expires"),
        "reissue": (ACCEPTED, "JWTs are checked locally: a revoked one is good until it expires"),
        "extract": (ACCEPTED, "JWTs are checked locally: a revoked one is good until it expires"),
        "phantom": (REFUSED, "401 inactive-token: after the bound the gateway asks identity again"),
    }),
    Attack("delegated-token-at-gateway",
           "a delegated token (shares acting for alice at todos, with `act`) sent to `/api/todos`",
           _all(REFUSED, "401 not-an-edge-token: the edge takes users' own tokens from edge clients only",
                phantom=_OPAQUE_ONLY)),
    Attack("service-token-at-gateway", "reminders' own client-credentials token sent to `/api/todos/due`",
           _all(REFUSED, "401 not-an-edge-token: a service's token is for calling a service, not the edge")),
    Attack("replayed-as-delete", "alice's `GET` of her todo, captured between the gateway and todos, replayed "
           "as `DELETE`", {
        "trust": (ACCEPTED, "a bearer token is bound to no request: whoever holds it may do what its scopes allow"),
        "passthrough": (ACCEPTED, "a bearer token is bound to no request: whoever holds it may do what its "
                                  "scopes allow"),
        "reissue": (ACCEPTED, "the internal token is a bearer token too, good at todos for its 30 s"),
        "extract": (REFUSED, "401 invalid-signature: the signature covers the method, path, query and body"),
        "phantom": (ACCEPTED, "the JWT behind the opaque token is a bearer token, bound to no request"),
    }),
    Attack("same-request-twice", "alice's request, captured between the gateway and todos, sent again", {
        "trust": (ACCEPTED, "a bearer token can be sent again until it expires"),
        "passthrough": (ACCEPTED, "a bearer token can be sent again until it expires"),
        "reissue": (ACCEPTED, "the internal token can be sent again for its 30 s"),
        "extract": (REFUSED, "401 replayed-signature: each gateway-made nonce is accepted once"),
        "phantom": (ACCEPTED, "the JWT behind the opaque token can be sent again until it expires"),
    }),
    Attack("from-the-future", "a credential dated two minutes ahead (extract: signed headers at todos; "
           "elsewhere: a token identity signed, not valid before then, at the gateway)", {
        "trust": (REFUSED, "401 token-not-yet-valid: `nbf`/`iat` are checked"),
        "passthrough": (REFUSED, "401 token-not-yet-valid: `nbf`/`iat` are checked"),
        "reissue": (REFUSED, "401 token-not-yet-valid: `nbf`/`iat` are checked"),
        "extract": (REFUSED, "401 token-not-yet-valid: a signature may be at most 2 s ahead (not `abs(age)`)"),
        "phantom": (REFUSED, _OPAQUE_ONLY),
    }),
    Attack("percent-encoded-service", "`/api/%74odos/whoami` (the service name percent-encoded)",
           _all(REFUSED, "400 bad-path: the service is routed from one form of the path, never an escaped one")),
    Attack("connection-strips-gateway-headers", "alice's request with `Connection: authorization, x-user-id, "
           "x-gateway-signature, …` (asking the gateway to drop its own headers)",
           _all(REFUSED, "the names a client lists are taken from its own request before the gateway adds "
                         "anything: the gateway's headers always go on")),
    Attack("exchanged-token-elsewhere", "a delegated token for todos used at shares",
           _all(REFUSED, "401 wrong-audience: an exchanged token names one audience")),
    Attack("on-behalf-of-wrong-client", "reminders' own token plus `X-On-Behalf-Of: alice`, straight to todos",
           _all(REFUSED, "403: only shares may speak for a user, and only in extract")),
    Attack("on-behalf-of-stolen-shares-secret", "shares' own token plus `X-On-Behalf-Of: alice`, straight to todos", {
        "trust": (REFUSED, "403: X-On-Behalf-Of is ignored outside extract; shares alone is a service"),
        "passthrough": (REFUSED, "403: X-On-Behalf-Of is ignored outside extract; shares alone is a service"),
        "reissue": (REFUSED, "403: X-On-Behalf-Of is ignored outside extract; shares alone is a service"),
        "extract": (ACCEPTED, "the trusted-subsystem fallback: shares' secret speaks for any user it names"),
        "phantom": (REFUSED, "403: X-On-Behalf-Of is ignored outside extract; shares alone is a service"),
    }),
)  # fmt: skip


def cells() -> list[tuple[str, str]]:
    """Every (mode, attack) pair with an expectation, for the built modes."""
    return [(mode, attack.id) for attack in ATTACKS for mode in attack.expect]

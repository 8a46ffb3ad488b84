"""Each boundary mode's story for docs/boundary-modes.md: the problem it solves, what it costs, the one
attack that shows the difference, a sequence diagram, and a lab — shell steps a learner runs against
`make up MODE=<mode>`. tests/e2e/test_mode_labs.py runs every lab, step by step, against the real suite in
that mode and checks each step's output; `python -m tests.e2e.infra.render_modes` writes them into the doc.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    #: What the step shows, as a comment above it.
    say: str
    #: Shell (bash) run in one session with the steps before it.
    run: str
    #: Its whole output, stripped; "" when it prints nothing.
    expect: str = ""


@dataclass(frozen=True)
class Lab:
    problem: str
    cost: str
    attack: str
    diagram: str
    steps: tuple[Step, ...]


#: Run once before any lab: where the suite is, and three helpers. The variables keep a value already set,
#: which is how the test points them at its own suite (free ports).
PRELUDE = """\
IDP=${IDP:-http://127.0.0.1:9000} GW=${GW:-http://127.0.0.1:8080} TODOS=${TODOS:-http://127.0.0.1:8001}
token() {  # a user's access token from the development-only password grant of the public CLI client
  curl -s "$IDP/token" -d grant_type=password -d client_id=todo-cli -d username="$1" -d password="$1" |
    jq -r .access_token
}
status() { curl -s -o /dev/null -w '%{http_code}\\n' "$@"; }  # the HTTP status only
forge() {  # a JWT with claims changed and its signature kept (so it no longer matches)
  python3 -c 'import base64, json, sys
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims.update(json.loads(sys.argv[2]))
print(h, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), s, sep=".")' "$1" "$2"
}"""

_GET_TOKEN = Step("Alice signs in (the password grant: development only)", "TOKEN=$(token alice)")
_FORGE = Step(
    "Alice's own token, its payload edited to say she is carol, an admin",
    """FORGED=$(forge "$TOKEN" '{"preferred_username": "carol", "roles": ["admin"]}')""",
)

LABS: dict[str, Lab] = {
    "trust": Lab(
        problem="Verifying a token costs a signature check at every hop; if the gateway has checked it, why "
        "check again? In `trust` a service decodes the token without verifying it and believes the gateway did.",
        cost="The belief is all there is. Without the mesh nothing tells a service that a request came through "
        "the gateway, so whoever reaches a service can be anyone — which is why it runs only as the insecure "
        "demo (`AUTHZ_INSECURE_DEMO`) or with the mesh, where only the gateway's peer is believed.",
        attack="Edit a real token's payload (any user, any role) and send it straight to todos: accepted.",
        diagram="""\
sequenceDiagram
    participant C as client
    participant G as gateway
    participant T as todos
    C->>G: GET /api/todos (Bearer edge JWT)
    G->>G: verify signature, iss, aud=todos, exp
    G->>T: GET /todos (the same JWT)
    T->>T: decode, NO signature check
    T-->>G: 200
    G-->>C: 200
    Note over C,T: an attacker who reaches todos directly sends any JWT and is believed""",
        steps=(
            _GET_TOKEN,
            _FORGE,
            Step(
                "straight at todos, past the gateway: todos believes the edited payload",
                """curl -s -H "Authorization: Bearer $FORGED" "$TODOS/todos/whoami" | jq -r '.username, .source'""",
                "carol\nunverified_token",
            ),
            Step(
                "and the admin-only audit opens to her",
                """status -H "Authorization: Bearer $FORGED" "$TODOS/todos/audit\"""",
                "200",
            ),
        ),
    ),
    "passthrough": Lab(
        problem="Every service verifies the user's token itself — signature, issuer, audience, expiry — so no "
        "service depends on the gateway having done its job (zero trust between hops).",
        cost="A signature check per hop (cached per token), and the edge token is a bearer token for every "
        "API it names: whoever captures it can use it straight at a service, past the gateway and its rules.",
        attack="The forged token of `trust` is refused; Alice's real token, replayed straight at todos, works.",
        diagram="""\
sequenceDiagram
    participant C as client
    participant G as gateway
    participant T as todos
    participant I as identity
    T->>I: GET /jwks (once, cached)
    C->>G: GET /api/todos (Bearer edge JWT)
    G->>G: verify JWT (aud names todos)
    G->>T: GET /todos (the same JWT)
    T->>T: verify JWT again (signature, iss, aud, exp)
    T-->>G: 200
    G-->>C: 200""",
        steps=(
            _GET_TOKEN,
            _FORGE,
            Step(
                "the edited token straight at todos: the signature no longer matches",
                """status -H "Authorization: Bearer $FORGED" "$TODOS/todos/whoami\"""",
                "401",
            ),
            Step(
                "Alice's real token through the gateway",
                """status -H "Authorization: Bearer $TOKEN" "$GW/api/todos/whoami\"""",
                "200",
            ),
            Step(
                "the cost: the same token straight at todos works too — a stolen edge token skips the gateway",
                """status -H "Authorization: Bearer $TOKEN" "$TODOS/todos/whoami\"""",
                "200",
            ),
        ),
    ),
    "reissue": Lab(
        problem="The edge token leaves the edge: the gateway mints a short internal token (30 s, its own ES256 "
        "key) for the one service it routes to, so what a service holds is good nowhere else.",
        cost="A signature per user, service and ~20 s at the gateway; a second issuer to run, whose key every "
        "replica must share; each service trusts one more key set (`AUTHZ_GATEWAY_JWKS_URL`).",
        attack="Alice's edge token straight at todos: refused — todos takes users only in the gateway's form.",
        diagram="""\
sequenceDiagram
    participant C as client
    participant G as gateway
    participant T as todos
    C->>G: GET /api/todos (Bearer edge JWT from identity)
    G->>G: verify edge JWT
    G->>G: mint internal JWT (iss=gateway, aud=todos, 30 s), cached per token and target
    G->>T: GET /todos (Bearer internal JWT)
    T->>G: GET /.well-known/jwks.json (once, cached)
    T->>T: verify internal JWT (iss=gateway, aud=todos only)
    T-->>G: 200
    G-->>C: 200""",
        steps=(
            _GET_TOKEN,
            Step(
                "the edge token straight at todos: not the gateway's internal token, refused",
                """status -H "Authorization: Bearer $TOKEN" "$TODOS/todos/whoami\"""",
                "401",
            ),
            Step(
                "through the gateway todos sees the internal token",
                """curl -s -H "Authorization: Bearer $TOKEN" "$GW/api/todos/whoami" | jq -r .source""",
                "internal_token",
            ),
        ),
    ),
    "extract": Lab(
        problem="Services should not parse tokens at all: the gateway verifies the edge token and sends who "
        "the user is as headers (`X-User-Id`, `X-User-Name`, `X-Roles`, `X-Scopes`), signed with an HMAC key "
        "it shares with that one service, bound to the request and accepted once.",
        cost="A key per service to distribute and rotate; a nonce per request remembered for the freshness "
        "window; the services never see a token, so `shares` acts for a user as a trusted subsystem (its own "
        "token plus `X-On-Behalf-Of`) instead of by token exchange.",
        attack="Identity headers made up by hand, straight at todos: refused without the gateway's signature.",
        diagram="""\
sequenceDiagram
    participant C as client
    participant G as gateway
    participant T as todos
    C->>G: GET /api/todos (Bearer edge JWT)
    G->>G: verify JWT, drop client-sent X-User-* headers
    G->>T: GET /todos + X-User-Id/-Name/-Roles/-Scopes + HMAC(key of todos; method, path, query, body hash, time, nonce)
    T->>T: check HMAC, freshness (30 s + 2 s), nonce unseen
    T-->>G: 200
    G-->>C: 200""",
        steps=(
            _GET_TOKEN,
            Step(
                "who alice is, made up as headers, straight at todos",
                """status -H "X-User-Id: 00000000-0000-0000-0000-00000000000c" -H "X-User-Name: carol" \\
  -H "X-Roles: admin" -H "X-Scopes: todos:read" "$TODOS/todos/audit\"""",
                "401",
            ),
            Step(
                "through the gateway the headers come signed",
                """curl -s -H "Authorization: Bearer $TOKEN" "$GW/api/todos/whoami" | jq -r .source""",
                "signed_headers",
            ),
        ),
    ),
    "phantom": Lab(
        problem="Clients hold only an opaque handle; the gateway resolves it at identity (RFC 7662 "
        "introspection, `Accept: application/jwt`) and forwards the JWT. A leaked handle works only through "
        "the gateway, and revoking it at identity takes effect within a bound.",
        cost="Identity is on the request path: one introspection per token per cache window "
        "(`GATEWAY_PHANTOM_CACHE_SECONDS`, 30 s) — which is also how long a revoked handle still passes.",
        attack="Revoke Alice's handle at identity, wait out the bound: the gateway refuses it.",
        diagram="""\
sequenceDiagram
    participant C as client
    participant G as gateway
    participant I as identity
    participant T as todos
    C->>G: GET /api/todos (Bearer opaque handle)
    alt not cached
        G->>I: POST /introspect (gateway's client; Accept: application/jwt)
        I-->>G: the JWT behind the handle (or inactive)
        G->>G: cache it ≤ bound and ≤ exp
    end
    G->>T: GET /todos (Bearer JWT)
    T->>T: verify JWT (as in passthrough)
    T-->>G: 200
    G-->>C: 200
    C->>I: POST /revoke (the handle, RFC 7009)
    Note over G: within the bound the cached JWT still passes
    C->>G: the handle again, after the bound
    G->>I: POST /introspect
    I-->>G: {"active": false}
    G-->>C: 401""",
        steps=(
            _GET_TOKEN,
            Step(
                "the token has no dots: an opaque handle, not a JWT", """printf %s "$TOKEN" | tr -cd . | wc -c""", "0"
            ),
            Step(
                "straight at todos it means nothing",
                """status -H "Authorization: Bearer $TOKEN" "$TODOS/todos/whoami\"""",
                "401",
            ),
            Step(
                "through the gateway, resolved and cached",
                """status -H "Authorization: Bearer $TOKEN" "$GW/api/todos/whoami\"""",
                "200",
            ),
            Step(
                "Alice revokes it at identity (RFC 7009: 200 whatever the token was)",
                """status "$IDP/revoke" -d client_id=todo-cli -d token="$TOKEN\"""",
                "200",
            ),
            Step(
                "wait out the cache bound (GATEWAY_PHANTOM_CACHE_SECONDS: 30 s by default)",
                """sleep "${BOUND:-31}\"""",
            ),
            Step(
                "the gateway asks identity again, and refuses",
                """status -H "Authorization: Bearer $TOKEN" "$GW/api/todos/whoami\"""",
                "401",
            ),
        ),
    ),
}


def lab_script(steps: tuple[Step, ...], marker: str) -> str:
    """One bash script of the prelude and every step, each step's output after a line `marker N`."""
    lines = ["set -euo pipefail", PRELUDE]
    for number, step in enumerate(steps):
        lines += [f"echo '{marker} {number}'", step.run]
    return "\n".join(lines) + "\n"


def render_lab(lab: Lab) -> list[str]:
    """The lab as a reader sees it: each step's comment, its command, and what it prints."""
    out = ["```sh"]
    for step in lab.steps:
        out.append(f"# {step.say}")
        out.append(step.run)
        if step.expect:
            out += [f"#   → {line}" for line in step.expect.splitlines()]
    out.append("```")
    return out

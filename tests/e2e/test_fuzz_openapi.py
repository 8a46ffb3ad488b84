"""Every operation of every service's OpenAPI, fuzzed against the running suite: no 5xx anywhere.

schemathesis turns each service's `/openapi.json` into Hypothesis strategies — inputs that fit the schema
(huge numbers, odd strings, empty bodies) and inputs that do not — and each case is sent to the service
directly and, for the APIs behind it, through the gateway. Every operation is called by a caller who
passes its authorization, so the fuzzer reaches the code behind the checks: alice for her endpoints, carol
for admin ones, reminders' own token for `/todos/due`, shares' delegated token for grants, and the
confidential clients' HTTP Basic credentials at identity's OAuth endpoints. Any 5xx fails the test with
the case as a curl command. A suite of its own, on SQLite and on PostgreSQL (which refuses a NUL in a
string that SQLite stores): the fuzzer deletes, revokes and rotates keys.
"""

from __future__ import annotations

import base64
import functools
from collections import Counter
from collections.abc import Callable

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.e2e.infra.client import SuiteClient

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
#: Examples per operation and target: bounded, so the whole test stays under a minute or so.
EXAMPLES = 30


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _callers(suite: SuiteClient) -> dict[str, str]:
    """An Authorization header value per caller."""
    secrets = suite.processes.secrets
    alice = suite.password_token("alice")
    delegated = suite.http.post(
        suite.discovery()["token_endpoint"],
        data={"grant_type": EXCHANGE, "subject_token": alice, "subject_token_type": ACCESS_TOKEN,
              "audience": "todos", "scope": "todos:share"},
        auth=("shares", secrets["shares"]),
    )  # fmt: skip
    assert delegated.status_code == 200, delegated.text
    return {
        "alice": f"Bearer {alice}",
        # /userinfo takes only tokens with identity's UserInfo audience, which the `openid` scope adds.
        "alice-openid": f"Bearer {suite.password_token('alice', scope='openid todos:read')}",
        "carol": f"Bearer {suite.password_token('carol')}",
        "reminders": f"Bearer {suite.client_token('reminders', audience='todos', scope='todos:due:read')}",
        "shares-for-alice": f"Bearer {delegated.json()['access_token']}",
        "shares-directory": f"Bearer {suite.client_token('shares', scope='users:read')}",
        "shares-basic": _basic("shares", secrets["shares"]),
        "gateway-basic": _basic("gateway", secrets["gateway"]),
        "admin-basic": _basic("identity-admin", secrets["identity-admin"]),
    }


#: The callers that are services: the gateway's edge refuses their tokens.
SERVICE_CALLERS = {"reminders", "shares-for-alice"}


def caller_for(service: str, method: str, path: str) -> str:
    """Who may call this operation (the authorization rules of docs/architecture.md)."""
    if service == "todos":
        if path == "/todos/due":
            return "reminders"
        if path == "/todos/audit":
            return "carol"
        if "/grants/" in path:
            return "shares-for-alice"
        return "alice"
    if service == "reminders" and path == "/reminders/run":
        return "carol"
    if service == "identity":
        if path.startswith("/admin"):
            return "admin-basic"
        if path.startswith("/users"):
            return "shares-directory"
        if path == "/introspect":
            return "gateway-basic"
        if path in ("/token", "/revoke"):
            return "shares-basic"
        if path == "/userinfo":
            return "alice-openid"
        return "alice"
    return "alice"


def fuzz(
    schema_url: str, base_url: str, service: str, headers: Callable[[str, str], dict[str, str]]
) -> tuple[list[str], dict[str, Counter[int]]]:
    """Run every operation of the schema at `base_url`: (the 5xx answers found, as curl commands; the
    statuses each operation answered)."""
    schema = schemathesis.openapi.from_url(schema_url)
    found: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        auth = headers(operation.method.upper(), operation.path)
        seen = statuses[f"{operation.method.upper()} {operation.path}"] = Counter()
        _fuzz_operation(operation, base_url, auth, functools.partial(_record, auth=auth, seen=seen, found=found))
    return found, statuses


def _record(
    case: schemathesis.Case, status: int, *, auth: dict[str, str], seen: Counter[int], found: list[str]
) -> None:
    seen[status] += 1
    if status >= 500:
        found.append(f"{status} from {case.operation.path}: {case.as_curl_command(headers=auth)}")


#: Strings that databases and parsers treat specially; put into every string of a valid case, since random
#: generation rarely hits them (PostgreSQL cannot store the first: it was a 500 there, never on SQLite).
EDGE_STRINGS = ("a\x00b", "\u202e" + "\U0001d518" * 300, "' OR 1=1 --", "%00", "\\x00", " ")


def _with_strings(case: schemathesis.Case, value: str) -> schemathesis.Case:
    """`case` with every string of its JSON body and its query set to `value`."""
    if isinstance(case.body, dict):
        case.body = {k: value if isinstance(v, str) else v for k, v in case.body.items()}
    if case.query:
        case.query = {k: value if isinstance(v, str) else v for k, v in case.query.items()}
    return case


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    base_url: str,
    auth: dict[str, str],
    record: Callable[[schemathesis.Case, int], None],
) -> None:
    """Up to EXAMPLES cases, valid and invalid ones, each sent once; `record` gets every answer's status."""
    valid = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    strategy = st.one_of(
        valid,
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        st.tuples(valid, st.sampled_from(EDGE_STRINGS)).map(lambda pair: _with_strings(*pair)),
    )

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        record(case, case.call(base_url=base_url, headers=auth, timeout=10).status_code)

    run()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed_suite(request: pytest.FixtureRequest, own_suite: Callable[..., SuiteClient]) -> SuiteClient:
    """On both databases: PostgreSQL refuses what SQLite stores (a NUL in a string), and the other way round."""
    return own_suite(request.param)


@pytest.mark.parametrize(
    ("service", "via_gateway"),
    [("identity", False), ("todos", False), ("shares", False), ("reminders", False),
     ("todos", True), ("shares", True), ("reminders", True)],
    ids=["identity", "todos", "shares", "reminders", "gateway-todos", "gateway-shares", "gateway-reminders"],
)  # fmt: skip
def test_no_server_error(fuzzed_suite: SuiteClient, service: str, via_gateway: bool) -> None:
    suite = fuzzed_suite
    callers = _callers(suite)
    direct = {"identity": suite.identity_url, "todos": suite.todos_url, "shares": suite.shares_url,
              "reminders": suite.reminders_url}[service]  # fmt: skip
    base_url = f"{suite.gateway_url}/api" if via_gateway else direct

    def headers(method: str, path: str) -> dict[str, str]:
        return {"Authorization": callers[caller_for(service, method, path)]}

    found, statuses = fuzz(f"{direct}/openapi.json", base_url, service, headers)
    assert not found, "\n".join(sorted(set(found)))
    # Through the gateway, operations only a service may call (reminders' due query, shares' delegated
    # grants) have no caller: the edge takes users' own tokens only (docs/boundary-modes.md). There the
    # fuzzer checks that the edge refuses them, every time, with a 401.
    service_only = {op for op in statuses if via_gateway and caller_for(service, *op.split(" ", 1)) in SERVICE_CALLERS}
    for op in service_only:
        assert set(statuses[op]) == {401}, (op, statuses[op])
    # The callers pass each operation's authorization: the fuzzer reached the code behind the checks.
    refused_only = [op for op, seen in statuses.items() if set(seen) <= {401, 403} and op not in service_only]
    assert not refused_only, f"only ever refused: {refused_only} ({statuses})"
    assert len(statuses) >= 3


#: identity's OAuth endpoints read their forms themselves (RFC 6749 section 4), so their OpenAPI declares
#: no body for schemathesis to work from: these forms are generated here, with the fields of those RFCs.
FORM_FIELDS = (
    "grant_type", "client_id", "client_secret", "username", "password", "scope", "audience", "resource",
    "refresh_token", "subject_token", "subject_token_type", "requested_token_type", "actor_token",
    "actor_token_type", "token", "token_type_hint", "code", "code_verifier", "redirect_uri",
)  # fmt: skip
GRANT_TYPES = (
    "password", "client_credentials", "refresh_token", "authorization_code", EXCHANGE,
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
)  # fmt: skip
FORM_EXAMPLES = 150


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_oauth_forms_no_server_error(fuzzed_suite: SuiteClient, path: str) -> None:
    suite = fuzzed_suite
    callers = _callers(suite)
    real = [callers["alice"].removeprefix("Bearer "), callers["shares-for-alice"].removeprefix("Bearer ")]
    value = st.one_of(
        st.text(max_size=300),
        st.sampled_from([*GRANT_TYPES, ACCESS_TOKEN, "alice", "todo-cli", "shares", "todos", "todos:read", *real]),
    )
    form = st.dictionaries(st.sampled_from(FORM_FIELDS), value, max_size=8)
    who = st.sampled_from([None, callers["shares-basic"], callers["gateway-basic"], "Basic !!", "Bearer x"])
    statuses: Counter[int] = Counter()

    @hypothesis.settings(max_examples=FORM_EXAMPLES, deadline=None, database=None, phases=[hypothesis.Phase.generate])
    @given(form=form, grant=st.sampled_from(GRANT_TYPES), authorization=who)
    def run(form: dict[str, str], grant: str, authorization: str | None) -> None:
        form = {"grant_type": grant, **form} if path == "/token" else form
        headers = {"Authorization": authorization} if authorization else {}
        response = suite.http.post(f"{suite.identity_url}{path}", data=form, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (form, authorization, response.text)

    run()
    assert len(statuses) >= 2, statuses  # the forms reached more than one outcome

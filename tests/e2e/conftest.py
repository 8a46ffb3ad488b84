"""End-to-end tests: the real services as processes on loopback, driven over HTTP with real tokens.

Layout — this file holds fixture wiring only; helpers live in `infra/`; one file per user journey:

    infra/databases.py      fresh SQLite files or fresh PostgreSQL databases (dropped afterwards)
    infra/client.py         SuiteClient: knows the identity URL, finds the rest by discovery
    infra/forgery.py        tokens an attacker might send (other key, alg none, tampered, ...)
    infra/spy.py            a "compromised service" behind the gateway that keeps what it is sent
    infra/otlp.py           reading a traced suite's spans back: the local receiver, or an independent one
    infra/browser.py        a user agent for identity's login page (cookies, the form, the redirects)
    test_discovery.py       a client needs only the issuer URL; whoami shows what todos saw
    test_isolation.py       alice's todos are alice's; bad tokens are refused; bad input is a 422
    test_key_rotation.py    publish-first rotation: no failed request, one JWKS refetch
    test_restart.py         identity restarts and loses nothing (keys, revocations)
    test_sharing.py         alice shares with bob through `shares`, which acts for her by token exchange
    test_reminders.py       reminders, with its own token, mails what falls due — once
    test_gateway_modes.py   the user journey through the gateway, in every built boundary mode
    test_attack_matrix.py   attacks x modes, each cell's expected outcome from infra/matrix.py
    test_mesh.py            the journey in every mode with the mesh on, and what the mesh refuses
    test_sign_in.py         people sign in: an independent RP (Authlib) and the CLI, code + PKCE, refresh, logout
    test_identity_attacks.py  open redirect, code injection, PKCE downgrade, replays, login CSRF, guessing
    test_process_lifetime.py  nothing `devstack up` starts outlives it (Tilt's stop sequences, SIGKILL)
    test_database_outage.py   a private PostgreSQL restarted under write load: 503s, no 500, nothing lost
    test_fuzz_openapi.py    every operation of every OpenAPI, fuzzed: no 5xx anywhere
    test_web_ui.py          the web UI in Debian's Chromium (Playwright): sign in, share, a readable 403, no token
                            ever reaches the browser, the session cookie's flags, CSRF; the token journey
                            view and the attack panel
    test_traces.py          one trace across every hop of a share (from web too), auth facts on each, no token
    test_workshop_labs.py   every local command of docs/workshop/'s labs, on the suites above (infra/workshop.py)
    test_reset.py           `make reset` refuses while `devstack up` runs from the run directory, cleans after it

`suite` runs the default mode on SQLite and PostgreSQL; `moded_suite` runs each built mode on SQLite;
`mesh_suite` runs each mode with the local mesh (Envoy sidecars, mTLS, the peer policy) on SQLite.
`web_suite` runs the suite with the web UI in `passthrough` (SQLite) and `phantom` (PostgreSQL), traced.
`own_suite` starts a suite for one test module alone (the fuzzer and the outage drill change what others see).

The suite is started once per database kind (session scope): the embedded SQLite default, and
PostgreSQL, for which `make test` finds or starts a server (scripts/with-postgres). Neither is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

import devstack.suite
from devstack.ports import free_ports
from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.databases import postgres_databases, sqlite_databases
from tests.e2e.infra.matrix import PHANTOM_CACHE_SECONDS, built_modes
from tests.e2e.infra.otlp import LocalReceiver, TracedSuite, independent_receiver
from tests.e2e.infra.spy import Spy, spy_upstream

PROCESSES = ["identity", "mailsink", "todos", "reminders", "shares", "gateway"]
DATABASES = ["identity", "todos", "reminders", "shares", "web"]
E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


def _boot(
    stack: ExitStack,
    run_dir: Path,
    database_kind: str,
    mode: str,
    spy: Spy | None = None,
    *,
    mesh: bool = False,
    pg_admin_url: str | None = None,
    web: bool = False,
    traced: bool = False,
) -> SuiteClient:
    if database_kind == "postgres":
        databases = stack.enter_context(postgres_databases(DATABASES, pg_admin_url))
    else:
        databases = sqlite_databases(run_dir, DATABASES)
    names = [*PROCESSES, "web", *(["traces"] if traced else [])]
    config = devstack.suite.SuiteConfig(
        run_dir=run_dir,
        # The web UI runs only in `web_suite`: elsewhere its port is where the relying-party tests listen for
        # the redirect, and identity gets this run's URIs for it (devstack writes them) either way.
        ports=dict(zip(names, free_ports(len(names)), strict=True)),
        database_urls=databases,
        mode=mode,
        # Short enough for a test to wait out, long enough to observe "published, not yet signing".
        key_publish_delay_seconds=2.0,
        jwks_min_refetch_seconds=0.5,
        # phantom: short, so the matrix can wait out the window in which a revoked opaque token still passes.
        phantom_cache_seconds=PHANTOM_CACHE_SECONDS,
        # Reminder scans run when a test asks (POST /reminders/run, the run-once command), so that
        # "sent once, not twice" is about our runs and not a background timer's.
        reminders_interval_seconds=0,
        # A "compromised service" behind the gateway, routed with todos' audience (infra/spy.py).
        extra_upstreams={"spy": (spy.url, "todos")} if spy else {},
        mesh=mesh,
        web=web,
        # Tracing is off in tests (conftest.py at the root) except in a suite that is about it: that one
        # runs the local trace receiver and every process exports to it (docs/observability.md).
        extra_env={"OTEL_SDK_DISABLED": "false"} if traced else {},
    )
    processes = stack.enter_context(devstack.suite.Suite(config))
    http = stack.enter_context(httpx.Client(timeout=10))
    # With the mesh the three services have no port at all: their sidecars take mTLS on Unix sockets, which a
    # client reaches as `https://<service>` through the sockets (tests/e2e/test_mesh.py).
    service_url = (lambda name: f"https://{name}") if processes.mesh else config.url
    return SuiteClient(
        identity_url=config.url("identity"),
        todos_url=service_url("todos"),
        shares_url=service_url("shares"),
        reminders_url=service_url("reminders"),
        gateway_url=config.url("gateway"),
        database_kind=database_kind,
        database_urls=databases,
        processes=processes,
        http=http,
        mode=mode,
        spy=spy,
    )


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteClient]:
    """The suite in the default mode (passthrough), on each database."""
    with ExitStack() as stack:
        yield _boot(stack, tmp_path_factory.mktemp(f"suite-{request.param}"), request.param, "passthrough")


@pytest.fixture(scope="session", params=built_modes())
def moded_suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteClient]:
    """The suite in each built boundary mode (SQLite: the PostgreSQL path is the same code in every mode)."""
    with ExitStack() as stack:
        spy = stack.enter_context(spy_upstream())
        yield _boot(stack, tmp_path_factory.mktemp(f"mode-{request.param}"), "sqlite", request.param, spy)


@pytest.fixture(scope="session", params=built_modes())
def mesh_suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteClient]:
    """The suite in each boundary mode with the mesh on (`make up MESH=1`): every app behind Envoy sidecars."""
    with ExitStack() as stack:
        # With the web UI, as `make up MESH=1` runs it: behind its sidecars, reaching identity and the gateway
        # through its outbound one (tests/e2e/test_mesh.py checks its listeners and its calls).
        yield _boot(
            stack, tmp_path_factory.mktemp(f"mesh-{request.param}"), "sqlite", request.param, mesh=True, web=True
        )


@pytest.fixture(scope="session", params=["passthrough", "phantom"])
def web_suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteClient]:
    """The suite with the web UI (services/web), in `passthrough` on SQLite and in `phantom` (opaque edge
    tokens) on PostgreSQL: the session store on both, one boot per mode."""
    database_kind = "sqlite" if request.param == "passthrough" else "postgres"
    with ExitStack() as stack:
        # Traced (the local receiver, as `make up` runs it): the journey view and the attack panel read it.
        run_dir = tmp_path_factory.mktemp(f"web-{request.param}")
        yield _boot(stack, run_dir, database_kind, request.param, web=True, traced=True)


@pytest.fixture(scope="module", params=["local-receiver", "independent-receiver", "mesh", "phantom"])
def traced_suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedSuite]:
    """The suite (passthrough, SQLite) with tracing on and the local trace receiver (`make up`'s); with
    `independent-receiver`, OTEL_EXPORTER_OTLP_ENDPOINT set as a developer would, naming another receiver;
    with `mesh`, every hop through Envoy sidecars (which must pass `traceparent` on); `phantom`, the gateway
    introspecting opaque edge tokens at identity."""
    with ExitStack() as stack:
        independent = None
        if request.param == "independent-receiver":
            independent = stack.enter_context(independent_receiver())
            stack.enter_context(pytest.MonkeyPatch.context()).setenv(
                "OTEL_EXPORTER_OTLP_ENDPOINT", independent.endpoint
            )
        mesh = request.param == "mesh"
        mode = "phantom" if request.param == "phantom" else "passthrough"
        # With the web UI: a share from the browser is one trace from web to todos.
        client = _boot(stack, tmp_path_factory.mktemp("traced"), "sqlite", mode, traced=True, mesh=mesh, web=True)
        local = LocalReceiver(client.processes.config.url("traces"))
        yield TracedSuite(client, independent or local, local)


@pytest.fixture(scope="module")
def own_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SuiteClient]]:
    """Start a suite for this test module alone: `own_suite("sqlite")`, or `own_suite("postgres",
    pg_admin_url=...)` on a server of the test's own. Stopped at the module's end."""
    with ExitStack() as stack:

        def boot(database_kind: str = "sqlite", *, pg_admin_url: str | None = None) -> SuiteClient:
            run_dir = tmp_path_factory.mktemp(f"own-{database_kind}")
            return _boot(stack, run_dir, database_kind, "passthrough", pg_admin_url=pg_admin_url)

        yield boot

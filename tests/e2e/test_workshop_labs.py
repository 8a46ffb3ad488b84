"""Every local command of the workshop's labs (docs/workshop/), run as written against a real suite.

Each lab segment (the `sh` blocks after a `make up MODE=… [MESH=1]`) runs, after the lab's prelude, in one
bash session pointed at a suite of the e2e fixtures in that mode (infra/workshop.py says how a lab is read):
the shared session suites of the mode and mesh tests, so this adds little but the commands themselves. A
segment that reads traces runs against `traced_suite`, one that opens the web UI's URLs against `web_suite`.
Each block must print exactly its `#   → …` lines. A renamed endpoint, flag or field breaks this test, not a
room full of people.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.doc_shell import run_blocks
from tests.e2e.infra.matrix import PHANTOM_CACHE_SECONDS
from tests.e2e.infra.otlp import TracedSuite
from tests.e2e.infra.workshop import Lab, Segment, fixture_of, labs

REPO = Path(__file__).parents[2]


def cases(fixture: str, param: str) -> list[pytest.ParameterSet]:
    """The lab segments that run on `fixture` with `param` (infra/workshop.py's `fixture_of`)."""
    return [
        pytest.param(lab, segment, id=f"{lab.name}:{segment.line}")
        for lab in labs()
        for segment in lab.segments
        if fixture_of(segment) == (fixture, param) and segment.blocks
    ]


#: The (fixture, parameter) pairs a test below runs segments on.
COVERED: set[tuple[str, str]] = set()


def labs_on(fixture: str, param: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Run the test once per segment on the e2e suite `fixture[param]`. Two parametrizations, not one: the
    suite's stays session-scoped (one value, so the shared session suite of that mode is reused across this
    and the other modules), the segments' is function-scoped. In one call the segments' values would be
    session-scoped too, and pytest would tear the suite down and start it again for every segment."""
    COVERED.add((fixture, param))

    def wrap(test: Callable[..., None]) -> Callable[..., None]:
        test = pytest.mark.parametrize(("lab", "segment"), cases(fixture, param), scope="function")(test)
        return pytest.mark.parametrize(fixture, [param], indirect=True)(test)

    return wrap


def env_of(s: SuiteClient) -> dict[str, str]:
    config = s.processes.config
    return {
        "IDP": s.identity_url,
        "GW": s.gateway_url,
        "TODOS": s.todos_url,
        "REMINDERS": s.reminders_url,
        "SHARES": s.shares_url,
        "WEB": s.web_url,
        "RUN_DIR": str(config.run_dir),
        # The e2e suites publish a new key 2 s before it signs (the default is 10 s) and cache a resolved
        # phantom token briefly: the labs wait out the defaults unless told these.
        "PUBLISH_DELAY": str(config.key_publish_delay_seconds + 1),
        "BOUND": str(PHANTOM_CACHE_SECONDS + 0.5),
    }


def run_segment(lab: Lab, segment: Segment, env: dict[str, str]) -> None:
    assert lab.prelude is not None, f"{lab.name}: no prelude block"
    blocks = [lab.prelude, *segment.blocks]
    outputs = run_blocks(blocks, env, cwd=REPO)
    assert [(b.line, out) for b, out in zip(blocks, outputs, strict=True)] == [(b.line, b.expect) for b in blocks]


def test_every_lab_segment_has_a_test_here() -> None:
    """A lab that names a mode (or the mesh, the web UI, traces) no test below runs fails here."""
    wanted = {fixture_of(segment) for lab in labs() for segment in lab.segments if segment.suite is not None}
    assert wanted <= COVERED, sorted(wanted - COVERED)


@labs_on("moded_suite", "trust")
def test_the_labs_in_trust(moded_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(moded_suite))


@labs_on("moded_suite", "passthrough")
def test_the_labs_in_passthrough(moded_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(moded_suite))


@labs_on("moded_suite", "reissue")
def test_the_labs_in_reissue(moded_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(moded_suite))


@labs_on("moded_suite", "extract")
def test_the_labs_in_extract(moded_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(moded_suite))


@labs_on("moded_suite", "phantom")
def test_the_labs_in_phantom(moded_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(moded_suite))


@labs_on("mesh_suite", "passthrough")
def test_the_labs_with_the_mesh(mesh_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(mesh_suite))


@labs_on("web_suite", "passthrough")
def test_the_labs_with_the_web_ui(web_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(web_suite))


@labs_on("traced_suite", "local-receiver")
def test_the_labs_with_traces(traced_suite: TracedSuite, lab: Lab, segment: Segment) -> None:
    client = traced_suite.suite
    run_segment(lab, segment, env_of(client) | {"TRACES": client.processes.config.url("traces")})

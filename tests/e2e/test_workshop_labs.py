"""Every local command of the workshop's labs (docs/workshop/), run as written against a real suite.

Each lab segment (the `sh` blocks after a `make up MODE=… [MESH=1]`) runs, after the lab's prelude, in one
bash session pointed at a suite of the e2e fixtures in that mode (infra/workshop.py says how a lab is read):
the shared session suites of the mode and mesh tests, so this adds little but the commands themselves. A
segment that reads traces runs against `traced_suite`, one that opens the web UI's URLs against `web_suite`.
Each block must print exactly its `#   → …` lines. A renamed endpoint, flag or field breaks this test, not a
room full of people.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.doc_shell import run_blocks
from tests.e2e.infra.matrix import PHANTOM_CACHE_SECONDS
from tests.e2e.infra.otlp import TracedSuite
from tests.e2e.infra.workshop import Lab, Segment, labs

REPO = Path(__file__).parents[2]
#: Which suite fixture runs a segment: the first whose variable the segment uses, else the mode's plain suite.
NEEDS = (("$TRACES", "traced_suite"), ("$WEB", "web_suite"))
#: The fixtures' parameters (tests/e2e/conftest.py): a lab asking for another combination fails here.
WEB_MODES = ("passthrough", "phantom")
TRACED = {"passthrough": "local-receiver"}


def fixture_of(segment: Segment) -> tuple[str, str]:
    """(fixture, its parameter) for a segment."""
    if segment.suite is None:
        return "", ""  # a cluster lab's local rendering: tests/test_workshop.py runs it
    if segment.suite.mesh:
        return "mesh_suite", segment.suite.mode
    for variable, fixture in NEEDS:
        if variable in segment.code:
            if fixture == "traced_suite":
                assert segment.suite.mode in TRACED, f"no traced suite in {segment.suite.mode}"
                return fixture, TRACED[segment.suite.mode]
            assert segment.suite.mode in WEB_MODES, f"no web suite in {segment.suite.mode}"
            return fixture, segment.suite.mode
    return "moded_suite", segment.suite.mode


def cases(fixture: str) -> list[pytest.ParameterSet]:
    found = []
    for lab in labs():
        for segment in lab.segments:
            if fixture_of(segment)[0] == fixture and segment.blocks:
                param = fixture_of(segment)[1]
                found.append(pytest.param(param, lab, segment, id=f"{lab.name}:{segment.line}"))
    return found


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


@pytest.mark.parametrize(("moded_suite", "lab", "segment"), cases("moded_suite"), indirect=["moded_suite"])
def test_a_lab_runs_as_written(moded_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(moded_suite))


@pytest.mark.parametrize(("mesh_suite", "lab", "segment"), cases("mesh_suite"), indirect=["mesh_suite"])
def test_a_mesh_lab_runs_as_written(mesh_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(mesh_suite))


@pytest.mark.parametrize(("web_suite", "lab", "segment"), cases("web_suite"), indirect=["web_suite"])
def test_a_web_lab_runs_as_written(web_suite: SuiteClient, lab: Lab, segment: Segment) -> None:
    run_segment(lab, segment, env_of(web_suite))


@pytest.mark.parametrize(("traced_suite", "lab", "segment"), cases("traced_suite"), indirect=["traced_suite"])
def test_a_traced_lab_runs_as_written(traced_suite: TracedSuite, lab: Lab, segment: Segment) -> None:
    client = traced_suite.suite
    run_segment(lab, segment, env_of(client) | {"TRACES": client.processes.config.url("traces")})

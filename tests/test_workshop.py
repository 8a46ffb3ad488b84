"""The workshop (docs/workshop/) is complete and consistent: at least ten local labs and a cluster one, each
15 to 30 minutes with the same sections, each break named with the check and the reason part B's test uses, no
command hidden from the tests, the index listing every lab; and the cluster lab's local rendering steps run
as written. Every local command of the other labs runs in tests/e2e/test_workshop_labs.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.infra.doc_shell import run_blocks
from tests.e2e.infra.matrix import built_modes
from tests.e2e.infra.workshop import CLUSTER_ONLY, KINDS, WORKSHOP, Lab, commands, fixture_of, labs
from tests.workshop.pages import break_ids, read_break

REPO = Path(__file__).parents[1]
LABS = labs()
SECTIONS = ("Goal", "Commands", "What to observe and why", "Break it", "The fix")
#: Lab number -> why its break's check fails, in the lab's words. The break and its check come from the
#: break's own page (docs/workshop/breaks/<id>.md, tests/workshop/pages.py), whose Lab field names the lab.
WHY = {
    "01": "a token with `alg: none` is no longer refused",
    "02": "Bob reads Alice's todo instead of a 404",
    "03": "identity redeems a code without the right verifier",
    "04": "reminders' token creates a todo instead of a 403",
    "05": "a delegated token whose actor is not allowed is accepted",
    "06": "the gateway forwards a spoofed identity header",
    "07": "a token for another audience is accepted",
    "08": "todos may call reminders (the peer policy no longer denies)",
    "09": "tokens signed with the old key fail right after rotation",
    "10": "a raw token shows up in a span attribute",
    "11": "the rendered mesh overlay lacks the AuthorizationPolicy that denies",
}
#: Lab number -> (break id, the check that fails): read from the breaks' pages.
BREAKS = {page.lab[1:3]: (page.id, page.check) for page in map(read_break, break_ids())}


def ids(lab: Lab) -> str:
    return lab.name


def test_at_least_ten_local_labs_and_a_cluster_one() -> None:
    assert len([lab for lab in LABS if not lab.cluster]) >= 10
    assert [lab.name for lab in LABS if lab.cluster] == ["11-istio-cluster"]
    assert sorted(lab.name[:2] for lab in LABS) == sorted(BREAKS) == sorted(WHY)


@pytest.mark.parametrize("lab", LABS, ids=ids)
def test_a_lab_has_its_length_and_every_section(lab: Lab) -> None:
    assert 15 <= lab.minutes <= 30
    for heading in SECTIONS:
        assert lab.section(heading).strip(), f"{lab.name}: no '## {heading}'"


@pytest.mark.parametrize("lab", LABS, ids=ids)
def test_a_lab_names_its_break_its_check_and_why(lab: Lab) -> None:
    break_id, check = BREAKS[lab.name[:2]]
    reason = WHY[lab.name[:2]]
    text = lab.section("Break it")
    assert f"(breaks/{break_id}.md)" in text
    assert check in text
    assert reason in text
    (block,) = [code for info, _, code in lab.fences if info == "sh check"]
    assert commands(block) == [
        f"git apply docs/workshop/breaks/{break_id}.patch",
        f"uv run --no-sync pytest -q '{check}'",
    ]
    assert (REPO / check.split("::")[0]).exists()
    assert f"git apply -R docs/workshop/breaks/{break_id}.patch" in lab.section("The fix")


@pytest.mark.parametrize("lab", LABS, ids=ids)
def test_no_command_is_hidden_from_the_tests(lab: Lab) -> None:
    """Shell blocks say who runs them; a cluster-only command in a plain `sh` block would run in the e2e test."""
    for info, line, code in lab.fences:
        if info.split(" ")[0] in ("sh", "bash", "shell", "console", "zsh"):
            assert info in KINDS, f"{lab.name}:{line}: ```{info}"
        if info == "sh":
            assert not CLUSTER_ONLY.search(code), f"{lab.name}:{line}: a cluster-only command outside `sh cluster`"


@pytest.mark.parametrize("lab", LABS, ids=ids)
def test_every_part_of_a_lab_runs_on_a_suite_the_tests_start(lab: Lab) -> None:
    assert lab.prelude is not None, lab.name
    assert lab.segments, lab.name
    for segment in lab.segments:
        assert segment.blocks, f"{lab.name}:{segment.line}: a `make up` with nothing after it"
        assert any(block.expect for block in segment.blocks), f"{lab.name}:{segment.line}: nothing is checked"
        if segment.suite is not None:
            assert segment.suite.mode in built_modes()
        fixture_of(segment)  # raises for a combination no e2e fixture runs


def test_every_lab_starts_with_the_same_prelude() -> None:
    preludes = {lab.prelude.code for lab in LABS if lab.prelude is not None}
    assert len(preludes) == 1


def test_the_index_lists_every_lab_with_its_minutes() -> None:
    index = (WORKSHOP / "README.md").read_text()
    for lab in LABS:
        row = next(line for line in index.splitlines() if line.startswith(f"| [{lab.name[:2]}]({lab.name}.md)"))
        assert f"| {lab.minutes} |" in row, row
        assert BREAKS[lab.name[:2]][0] in row
    for target in ("make doctor", "make reset", "make offline-cache", "make offline-install", "breaks/README.md"):
        assert target in index


def test_the_index_commands_are_make_targets() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in ("doctor", "reset", "offline-cache", "offline-install", "rotate-keys", "login", "up"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


def test_the_cluster_labs_local_steps_run_as_written() -> None:
    """`meshgen k8s --check` and `kubectl kustomize` render locally; the cluster steps are `sh cluster`."""
    from tests.k8s.tools import ToolUnavailable, kubectl

    try:
        found = kubectl()
    except ToolUnavailable as e:  # as the k8s tests do: no kubectl and no way to fetch one (offline)
        pytest.skip(str(e))
    (lab,) = [lab for lab in LABS if lab.cluster]
    assert lab.prelude is not None
    (segment,) = lab.segments
    blocks = [lab.prelude, *segment.blocks]
    path = f"{Path(found).parent}{os.pathsep}{os.environ['PATH']}"
    outputs = run_blocks(blocks, {"PATH": path}, cwd=REPO)
    assert [(b.line, out) for b, out in zip(blocks, outputs, strict=True)] == [(b.line, b.expect) for b in blocks]

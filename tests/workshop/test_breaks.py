"""The workshop's deliberate breaks (docs/workshop/breaks/) cannot rot.

Each break is a patch and a page naming the lab, the check (a pytest node id) and the reason the check fails
with. The fast tests here check that the index, the pages and the patches agree, and that each patch still
applies. The slow ones (marked e2e: they run pytest in subprocesses, one per break and one more) make one copy
of the tree with its own virtual environment — the workspace's editable installs in `.venv` point at this
tree, so the copy needs its own, as in tests/fork/test_fork.py. For each break they apply the patch to the
copy, run the check with the copy's Python, assert that it fails for the page's reason, revert the patch and
assert that the files are byte for byte what they were; and they assert that every check passes on the copy
with no break applied."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tree_copy import copy_tree, sync_own_venv
from tests.workshop.pages import BREAKS, INDEX, ROOT, break_ids, read_break

#: A row of the index's table: `| [01](../01-lab.md) | [`id`](id.md) | patch | `check` | reason |`.
ROW = re.compile(
    r"^\| *\[(\d+)\]\(\.\./\1-[a-z0-9-]+\.md\) *"
    r"\| *\[`([a-z0-9-]+)`\]\(([^)]+)\) *\| *(\w+) *\| *`([^`]+)` *\| *(.+?) *\|$",
    re.MULTILINE,
)
#: pytest's exit codes: 0 all passed, 1 some failed; anything else (usage error, nothing collected) is no verdict.
PASSED, FAILED = 0, 1


# --- the index, the pages and the patches agree (fast) -----------------------------------------------------------


def test_the_index_lists_every_break_and_each_has_its_page_and_patch() -> None:
    rows = ROW.findall(INDEX.read_text())
    listed = [row[1] for row in rows]
    assert rows, "no break in the table of docs/workshop/breaks/README.md"
    assert len(listed) == len(set(listed)), listed
    assert sorted(listed) == break_ids(), "the table and the pages in docs/workshop/breaks/ differ"
    for _, break_id, link, _, _, _ in rows:
        assert link == f"{break_id}.md", link
        assert (BREAKS / f"{break_id}.patch").is_file(), f"{break_id} has no patch"
    patches = sorted(p.stem for p in BREAKS.glob("*.patch"))
    assert patches == sorted(listed), "a patch without a page, or a page without a patch"


@pytest.mark.parametrize("break_id", break_ids())
def test_each_page_names_its_lab_check_and_reason_as_the_index_does(break_id: str) -> None:
    found = read_break(break_id)
    assert found.kind == "patch", "every break is a patch: the product has no insecure setting to flip"
    path, sep, name = found.check.partition("::")
    assert sep, f"{found.check} is not a pytest node id (path::test)"
    assert name, f"{found.check} is not a pytest node id (path::test)"
    test_file = ROOT / path
    assert test_file.is_file(), f"{break_id}: no test file {path}"
    assert f"def {name.split('::')[-1].split('[')[0]}(" in test_file.read_text(), f"{break_id}: no {name} in {path}"
    [row] = [row for row in ROW.findall(INDEX.read_text()) if row[1] == break_id]
    lab, _, _, kind, check, reason = row
    assert found.lab.startswith(f"[{lab},"), (found.lab, lab)
    lab_page = re.search(r"\]\((\.\./[^)]+)\)$", found.lab)
    assert lab_page, f"{break_id}: the Lab field does not link its lab's page"
    assert (BREAKS / lab_page.group(1)).is_file(), f"{break_id}: no lab page {lab_page.group(1)}"
    assert (kind, check, reason) == (found.kind, found.check, found.reason), "the index and the page disagree"


@pytest.mark.parametrize("break_id", break_ids())
def test_each_patch_applies_to_this_tree(break_id: str) -> None:
    # `--check` only: nothing in this tree changes. The e2e test below applies it, to a copy.
    result = git_apply(ROOT, BREAKS / f"{break_id}.patch", "--check")
    assert result.returncode == 0, f"{break_id}.patch no longer applies: {result.stderr}"


# --- each break makes its check fail for its reason; the revert makes it pass (e2e, a copy of the tree) ----------


def git_apply(tree: Path, patch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # In the copy (no repository of its own) git must not find one above it, or be pointed at one (GIT_DIR in a
    # hook), and apply the patch relative to that one's root.
    env = {k: v for k, v in os.environ.items() if k not in {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"}}
    env["GIT_CEILING_DIRECTORIES"] = str(tree.parent)
    return subprocess.run(
        ["git", "apply", *args, str(patch)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )


def tree_files(root: Path) -> Iterator[Path]:
    """git's files (tracked, and untracked but not ignored) as they are in the work tree."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    for raw in listed.split(b"\0"):
        if raw and (root / os.fsdecode(raw)).is_file():
            yield Path(os.fsdecode(raw))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    copy = copy_tree(ROOT, tree_files(ROOT), tmp_path_factory.mktemp("breaks") / "tree")
    sync_own_venv(copy)
    yield copy
    # Hundreds of megabytes (the environment's packages, linked or copied from uv's cache): not kept for later.
    shutil.rmtree(copy, ignore_errors=True)


def forget_bytecode(tree: Path, patch: Path) -> None:
    """Drop the cached bytecode of the files `patch` touches: a patch and its revert within the same second that
    keep a file's size would otherwise leave Python running the stale (broken) bytecode."""
    for rel in re.findall(r"^\+\+\+ b/(\S+\.py)$", patch.read_text(), re.MULTILINE):
        source = tree / rel
        for cached in (source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"):
            cached.unlink()


@dataclass(frozen=True)
class Outcome:
    status: int
    output: str
    #: Per test case of the report: "passed", "skipped", "failure" or "error".
    cases: list[str]
    #: The failures' messages (the exception each failure raised): the reason, and only the reason. pytest's
    #: output is not enough, as its traceback also prints the test's source, assertion messages included.
    failures: list[str]


def run_check(tree: Path, *checks: str) -> Outcome:
    report = tree / ".run" / "break-check.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "COV_"))}
    env["PATH"] = f"{tree / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    report.unlink(missing_ok=True)
    result = subprocess.run(
        [tree / ".venv" / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         *checks],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    cases, failures = [], []
    if report.is_file():
        # The report is the copy's own pytest's, written a moment ago: not untrusted input.
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
            outcome = next((child for child in case if child.tag in {"skipped", "failure", "error"}), None)
            cases.append("passed" if outcome is None else outcome.tag)
            if outcome is not None and outcome.tag == "failure":
                failures.append(outcome.get("message", ""))
    return Outcome(result.returncode, result.stdout[-4000:] + result.stderr[-2000:], cases, failures)


def touched(tree: Path, patch: Path) -> dict[str, str]:
    """The SHA-256 of each file `patch` changes, as the file is in `tree` now."""
    paths = set(re.findall(r"^(?:---|\+\+\+) [ab]/(\S+)$", patch.read_text(), re.MULTILINE))
    return {rel: hashlib.sha256((tree / rel).read_bytes()).hexdigest() for rel in sorted(paths)}


@pytest.mark.e2e
@pytest.mark.parametrize("break_id", break_ids())
def test_the_break_fails_its_check_for_its_reason_and_the_revert_restores_the_tree(tree: Path, break_id: str) -> None:
    found = read_break(break_id)
    before = touched(tree, found.patch)
    applied = git_apply(tree, found.patch)
    assert applied.returncode == 0, f"{break_id}.patch no longer applies: {applied.stderr}"
    try:
        forget_bytecode(tree, found.patch)
        broken = run_check(tree, found.check)
    finally:
        reverted = git_apply(tree, found.patch, "-R")
        forget_bytecode(tree, found.patch)

    assert reverted.returncode == 0, reverted.stderr
    # Byte for byte the tree the check passes on (the next test): the fix is the revert.
    assert touched(tree, found.patch) == before, f"reverting {break_id}.patch did not restore the files"
    assert broken.status == FAILED, f"with {break_id} applied, {found.check} did not fail:\n{broken.output}"
    assert any(found.reason in message for message in broken.failures), (
        f"{found.check} failed, but not for the reason {found.reason!r}: {broken.failures}"
    )


@pytest.mark.e2e
def test_every_check_passes_with_no_break_applied(tree: Path) -> None:
    """The other half of each break: without it (before it, and after its revert, which restores the same bytes)
    its check passes. One pytest run for all the checks: eleven runs would add half a minute for the same answer."""
    checks = [read_break(break_id).check for break_id in break_ids()]

    fixed = run_check(tree, *checks)

    assert fixed.status == PASSED, f"a check fails with no break applied:\n{fixed.output}"
    # A node id that selects nothing is an error (exit 4); a skipped check would be a check that did not happen.
    assert len(fixed.cases) >= len(checks), fixed.output
    assert set(fixed.cases) == {"passed"}, f"not every case of the checks ran and passed: {fixed.cases}"

"""A fork, made the way docs/forking.md says, stays green.

The tree (git's files, as they are in the work tree) is copied to a temporary folder, renamed with
`scripts/rename`, given its own virtual environment (`uv sync --locked --all-packages` with
UV_PROJECT_ENVIRONMENT inside the copy: the workspace's editable installs in `.venv` point at this tree, not
the copy), and then the copy's own tests run with the copy's own Python:

- unit tests of what carries the name or is generated from it: authz (problem-type URNs, SPIFFE IDs,
  settings), todos' routes (problem types), identity's discovery and admin realm, meshgen's committed Istio
  manifests, the generated mode docs, the version, the fail-closed settings;
- the Kubernetes render checks (`tests/k8s/test_overlays.py`, `test_kustomizations.py`: every overlay renders,
  in the new namespace, with the new image names) and the Tiltfile;
- one end-to-end journey: `tests/e2e/test_gateway_modes.py::test_journey` in `passthrough`, real processes.

Not the whole unit suite: on the project's 2-core machines it takes about 8 minutes (1,931 tests; it passed
on a renamed copy, run by hand), and the rest carries no name. `SELECTION` is the unit tests that check
something the rename changes, and one class or case where a file holds many alike; the schema validation of
the rendered overlays is left out (`DESELECTED`). The new name is longer than the old one, so lines grow:
the copy's `ruff check` and `ruff format --check` run too.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from tests.tree_copy import copy_tree, sync_own_venv

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: Longer than the old name (lines grow) and with two words (every spelling differs).
NEW_NAME = "northwind-tasks"
#: Kept on purpose (docs/forking.md): the changelog is history.
ALLOWLIST = {"CHANGELOG.md"}
#: Never part of the tree: the copy's own environment and caches.
NOT_THE_TREE = {".venv", ".run", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}

SELECTION = [
    "libs/authz/tests/test_mesh.py",
    "libs/authz/tests/test_settings.py",
    "libs/authz/tests/test_principal.py",
    "libs/authz/tests/test_fastapi.py",
    # The quartet of one endpoint and the token checks: problem-type URNs (the rest of the file is the same).
    "services/todos/tests/test_routes.py::TestReadTodo",
    "services/todos/tests/test_routes.py::TestTokenChecks",
    "services/identity/tests/test_discovery.py",
    "services/identity/tests/test_admin.py::TestAccess",
    "tools/meshgen/tests/test_committed.py",
    "tools/meshgen/tests/test_istio.py",
    "tools/meshgen/tests/test_policy.py",
    "tests/test_boundary_modes_doc.py",
    "tests/test_modes_data.py",
    "tests/test_version.py",
    "tests/test_fail_closed.py",
    "tests/k8s/test_kustomizations.py",
    "tests/k8s/test_overlays.py",
    "tests/tilt/test_tiltfile.py::test_resources_match_the_rendered_overlay",
    "tests/e2e/test_gateway_modes.py::test_journey[passthrough]",
]
#: Schema validation of the rendered objects: a rename changes string values only, which neither schema
#: checks, and the two take a minute (two `uv tool run`s over every overlay). `make test` runs them on the tree.
DESELECTED = [
    "tests/k8s/test_overlays.py::test_every_overlay_is_valid_against_the_kubernetes_schemas",
    "tests/k8s/test_overlays.py::test_the_istio_objects_are_valid_against_istios_schemas",
]


def rename_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("rename_script", str(ROOT / "scripts" / "rename"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


OLD_NAME: str = rename_script().CURRENT_NAME


def any_spelling(name: str) -> re.Pattern[str]:
    """Every spelling: any case, any separator between the words or none. Written here, not taken from
    the script: the check must not share the script's blind spots."""
    return re.compile(r"[\W_]?".join(map(re.escape, name.split("-"))), re.IGNORECASE)


def tree_files(root: Path) -> list[Path]:
    """git's files (tracked, and untracked but not ignored); outside a git work tree, every file but caches."""
    return list(rename_script().project_files(root))


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = copy_tree(ROOT, tree_files(ROOT), tmp_path_factory.mktemp("fork") / "tree")
    renamed = subprocess.run(
        [sys.executable, "scripts/rename", NEW_NAME], cwd=copy, capture_output=True, text=True, check=False
    )
    assert renamed.returncode == 0, renamed.stdout + renamed.stderr
    sync_own_venv(copy)
    return copy


def copy_env(fork: Path) -> dict[str, str]:
    """The outer run's environment, pointed at the copy (and its PostgreSQL variable under the new name)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "COV_"))}
    env["PATH"] = f"{fork / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    pg_url = os.environ.get(OLD_NAME.replace("-", "_").upper() + "_PG_URL")
    if pg_url:
        env[NEW_NAME.replace("-", "_").upper() + "_PG_URL"] = pg_url
    return env


def test_the_old_name_is_nowhere_outside_the_allowlist(fork: Path) -> None:
    pattern = any_spelling(OLD_NAME)
    found = []
    for dirpath, dirnames, filenames in os.walk(fork):
        dirnames[:] = [d for d in dirnames if d not in NOT_THE_TREE]
        for filename in filenames:
            rel = (Path(dirpath) / filename).relative_to(fork)
            if rel.as_posix() in ALLOWLIST:
                continue
            if pattern.search(rel.as_posix()):
                found.append(f"{rel} (its name)")
            data = (fork / rel).read_bytes()
            text = data.decode("utf-8", errors="replace")
            found += [f"{rel}: {line.strip()}" for line in text.splitlines() if pattern.search(line)]
    assert found == []
    assert any_spelling(OLD_NAME).search((fork / "CHANGELOG.md").read_text()), "the changelog keeps its history"


def test_the_new_name_is_where_the_old_one_was(fork: Path) -> None:
    assert f"name: {NEW_NAME}\n" in (fork / "k8s/base/namespace.yaml").read_text()
    assert f"namespace: {NEW_NAME}\n" in (fork / "mesh/policy.yaml").read_text()
    assert f'name = "{NEW_NAME}"' in (fork / "services/identity/src/identity/demo_realm.toml").read_text()
    assert f'IMAGE_PREFIX = "{NEW_NAME}/"' in (fork / "Tiltfile").read_text()
    assert f"spiffe://cluster.local/ns/{NEW_NAME}/sa/gateway" in (fork / "k8s/base/gateway.yaml").read_text()
    assert f'CURRENT_NAME = "{NEW_NAME}"' in (fork / "scripts/rename").read_text(), "a second rename starts here"


def test_the_copy_has_its_own_environment(fork: Path) -> None:
    python = fork / ".venv" / "bin" / "python"
    # find_spec locates without importing (an import would compile the copy's sources first: seconds).
    code = "from importlib.util import find_spec as f; print(*(f(m).origin for m in ('authz', 'todos', 'devstack')))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(path).is_relative_to(fork) for path in out), out


def test_the_copy_is_lint_clean(fork: Path) -> None:
    ruff = fork / ".venv" / "bin" / "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=fork, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_the_copys_unit_k8s_and_e2e_tests_pass(fork: Path) -> None:
    report = fork / ".run" / "fork-tests.xml"
    result = subprocess.run(
        [
            fork / ".venv" / "bin" / "python",
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            f"--junitxml={report}",
            *SELECTION,
            *(f"--deselect={test}" for test in DESELECTED),
        ],
        cwd=fork,
        env=copy_env(fork),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    outcome: dict[str, list[str]] = {}
    # The report is our own pytest's, written a moment ago: not untrusted input.
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
        kind = next((child.tag for child in case if child.tag in {"skipped", "failure", "error"}), "passed")
        outcome.setdefault(case.get("classname", ""), []).append(kind)
    assert not any(kind in {"failure", "error"} for kinds in outcome.values() for kind in kinds), outcome
    # What the issue asks to see, really run (all skipped would be a check that did not happen):
    ran = [name for name, kinds in outcome.items() if "passed" in kinds]
    for must in ("tests.k8s.test_overlays", "tests.e2e.test_gateway_modes", "tools.meshgen.tests.test_committed"):
        assert any(name.startswith(must) for name in ran), (must, sorted(outcome))

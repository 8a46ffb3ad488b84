"""The boundary modes: one module per mode on each side, chosen from registries keyed by `Mode`; the data
file generated from them for the Tiltfile, Kustomize checks and docs is committed and must not be stale;
and no mode name or `Mode.X` comparison anywhere else in non-test code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from authz import Mode
from authz.modes import SERVICE_MODES
from devstack.modes_data import DATA_FILE, render
from gateway.modes import GATEWAY_MODES

REPO = Path(__file__).parents[1]
#: Where a mode may be named: the registries and the mode modules (and, by the issue's rule, tests and
#: the generated data, which are not Python source here).
ALLOWED = ("libs/authz/src/authz/modes/", "services/gateway/src/gateway/modes/", "libs/authz/src/authz/_settings.py")
SOURCES = ("libs/*/src", "services/*/src", "tools/*/src", "bench")


def test_the_committed_data_file_is_what_the_registries_render() -> None:
    assert (REPO / DATA_FILE).read_text() == render(), f"{DATA_FILE} is stale: run `make docs`"


def test_each_mode_is_one_module_on_each_side() -> None:
    data = json.loads(render())["modes"]
    assert set(SERVICE_MODES) == set(GATEWAY_MODES) == set(Mode)
    for mode in Mode:
        assert SERVICE_MODES[mode].mode is mode
        assert GATEWAY_MODES[mode].mode is mode
        assert data[mode.value]["service"]["module"] == f"libs/authz/src/authz/modes/{mode.value}.py"
        assert data[mode.value]["gateway"]["module"] == f"services/gateway/src/gateway/modes/{mode.value}.py"


def _offences(path: Path) -> list[str]:
    names = {mode.value for mode in Mode}
    members = {mode.name for mode in Mode}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and node.value in names:
            found.append(f"{path}:{node.lineno}: the mode name {node.value!r}")
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Attribute) and side.attr in members and "Mode" in ast.unparse(side.value):
                    found.append(f"{path}:{node.lineno}: a comparison with {ast.unparse(side)}")
    return found


def test_no_mode_is_named_outside_the_registries_and_mode_modules() -> None:
    offences = []
    for pattern in SOURCES:
        for path in sorted(REPO.glob(f"{pattern}/**/*.py")):
            relative = path.relative_to(REPO).as_posix()
            if "/tests/" in relative or relative.startswith(ALLOWED):
                continue
            offences += _offences(path)
    assert offences == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('if settings.mode is Mode.TRUST or config.mode == "reissue":\n    pass\n')
    assert len(_offences(sample)) == 2

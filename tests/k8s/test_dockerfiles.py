"""services/<svc>/Dockerfile, read (no Docker engine here: nothing is built) and linted with hadolint.

What a build would show late is checked early: pinned bases, a non-root numeric user, exec-form CMD, the
two-step locked `uv sync`, a `dev` and a last `prod` stage, COPY sources that exist and are not ignored, and
the five files differing only in the service's name and port.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.k8s import tools
from tests.k8s.manifests import PORTS

REPO = tools.REPO
SERVICES = tuple(PORTS)
DOCKERFILES = {svc: REPO / "services" / svc / "Dockerfile" for svc in SERVICES}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append((keyword.upper(), args.strip()))
    return found


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, args
            found.append(Stage(match.group(2) or f"stage{len(found)}", match.group(1)))
        elif found:
            found[-1].instructions.append((keyword, args))
    return found


def _stage_map(svc: str) -> dict[str, Stage]:
    return {s.name: s for s in stages(DOCKERFILES[svc].read_text())}


def _workspace_members() -> list[str]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [str(p.parent.relative_to(REPO)) for p in sorted(REPO.glob(f"{pattern}/pyproject.toml"))]
    return sorted(members)


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rules, for the patterns we use: `**/x` at any depth, a folder excludes what is inside it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!")
        bare = pattern.removeprefix("**/")
        hit = any(
            fnmatch.fnmatchcase(prefix, pattern)
            or (pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.rsplit("/", 1)[-1], bare))
            or (pattern.startswith("**/") and "/" in bare and fnmatch.fnmatchcase(prefix, f"*/{bare}"))
            for prefix in prefixes
        )
        if hit:
            ignored = not negate
    return ignored


@pytest.mark.parametrize("svc", SERVICES)
class TestDockerfile:
    def test_external_images_are_pinned_by_tag(self, svc: str) -> None:
        found = stages(DOCKERFILES[svc].read_text())
        names = {s.name for s in found}
        external = [s.base for s in found if s.base not in names]
        copied_from = [
            re.search(r"--from=(\S+)", args).group(1)  # type: ignore[union-attr]
            for s in found
            for args in s.all("COPY")
            if "--from=" in args
        ]
        external += [image for image in copied_from if image not in names]
        assert external, "no base image"
        for image in external:
            assert "@" not in image, f"{image}: no digest can be looked up here; never invent one"
            repository, _, tag = image.rpartition(":")
            assert repository, f"{image}: not pinned by a tag"
            assert tag, f"{image}: not pinned by a tag"
            assert "/" not in tag, f"{image}: not pinned by a tag"
            assert tag != "latest", image
        assert "python:3.11-slim-bookworm" in external
        (uv,) = [image for image in external if image.startswith("ghcr.io/astral-sh/uv:")]
        assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", uv), f"{uv}: pin an exact uv release"

    def test_a_dev_stage_and_prod_last(self, svc: str) -> None:
        found = stages(DOCKERFILES[svc].read_text())
        assert found[-1].name == "prod", "a plain `docker build` must give the production image"
        assert "dev" in {s.name for s in found}

    def test_runs_as_a_numeric_non_root_user_with_an_exec_form_cmd(self, svc: str) -> None:
        by_name = _stage_map(svc)
        for target in ("dev", "prod"):
            stage = by_name[target]
            (user,) = stage.all("USER")
            uid = user.split(":")[0]
            assert uid.isdigit(), f"{target}: USER {user} (numeric, so runAsNonRoot can verify it)"
            assert int(uid) > 0, f"{target}: USER {user} is root"
            (cmd,) = stage.all("CMD")
            argv = json.loads(cmd)  # exec form: a JSON array, no shell in between
            assert argv[:3] == ["uvicorn", f"{svc}.app:create_app", "--factory"], argv
            assert argv[argv.index("--port") + 1] == str(PORTS[svc])
            assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - a container listens on its pod IP
            assert {"--loop", "uvloop", "--http", "httptools"} <= set(argv)
            assert stage.all("EXPOSE") == [str(PORTS[svc])]
        assert "--reload" in json.loads(by_name["dev"].all("CMD")[0])
        assert "--reload" not in json.loads(by_name["prod"].all("CMD")[0])

    def test_uv_syncs_twice_locked_dependencies_first(self, svc: str) -> None:
        syncs = [
            args
            for s in stages(DOCKERFILES[svc].read_text())
            for args in s.all("RUN")
            if "uv sync" in args
        ]  # fmt: skip
        assert len(syncs) >= 2
        first, *then = syncs
        for args in syncs:
            for flag in ("--locked", "--no-dev", f"--package {svc}"):
                assert flag in args, args
            assert "--mount=type=cache,target=/root/.cache/uv" in args, args
        assert "--no-install-workspace" in first
        assert all("--no-install-workspace" not in args for args in then)
        env = " ".join(_stage_map(svc)["deps"].all("ENV"))
        for setting in ("UV_COMPILE_BYTECODE=1", "UV_LINK_MODE=copy", "UV_PYTHON_DOWNLOADS=never"):
            assert setting in env

    def test_the_dependency_layer_copies_only_the_lockfile_and_every_members_pyproject(self, svc: str) -> None:
        deps = _stage_map(svc)["deps"]
        copied = []
        for args in deps.all("COPY"):
            if "--from=" not in args:
                copied += args.split()[:-1]
        assert sorted(copied) == sorted(
            ["pyproject.toml", "uv.lock", *(f"{m}/pyproject.toml" for m in _workspace_members())]
        ), "uv sync --locked checks uv.lock against every workspace member"

    def test_copy_sources_exist_and_are_not_ignored(self, svc: str) -> None:
        ignore = _dockerignore()
        for stage in stages(DOCKERFILES[svc].read_text()):
            for args in stage.all("COPY"):
                if "--from=" in args:
                    continue
                for source in args.split()[:-1]:
                    assert (REPO / source).exists(), f"{svc}: COPY {source}: no such path"
                    assert not _ignored(source, ignore), f"{svc}: COPY {source}: excluded by .dockerignore"

    def test_every_member_the_service_depends_on_is_in_its_image(self, svc: str) -> None:
        project = tomllib.loads((REPO / "services" / svc / "pyproject.toml").read_text())
        members = [name for name, source in project["tool"]["uv"]["sources"].items() if source.get("workspace")]
        copied = " ".join(_stage_map(svc)["sources"].all("COPY"))
        for member in [*members, svc]:
            folder = next(p for p in (REPO / "libs", REPO / "services") if (p / member).is_dir()) / member
            assert f"{folder.relative_to(REPO)}/src" in copied, member

    def test_prod_holds_the_venv_and_nothing_else_of_the_build(self, svc: str) -> None:
        prod = _stage_map(svc)["prod"]
        assert prod.base == "base"
        assert prod.all("COPY") == ["--from=build /app/.venv /app/.venv"]
        assert not prod.all("RUN")


def test_the_dockerfiles_differ_only_in_the_service_and_its_port() -> None:
    def shape(svc: str) -> str:
        text = DOCKERFILES[svc].read_text()
        # The list of members' pyproject.toml is the same in every file (checked above) and names them all.
        lines = [line for line in text.splitlines() if not re.match(r"COPY \S+/pyproject\.toml ", line)]
        return "\n".join(lines).replace(svc, "<svc>").replace(str(PORTS[svc]), "<port>")

    reference = shape("todos")
    for svc in SERVICES:
        assert shape(svc) == reference, f"services/{svc}/Dockerfile drifted from services/todos/Dockerfile"


def test_the_dockerignore_keeps_local_state_and_tests_out() -> None:
    ignore = _dockerignore()
    for path in (".venv", ".run", ".git", "services/todos/tests", "libs/authz/tests", "k8s", "docs",
                 "libs/authz/src/authz/__pycache__", "tools/meshgen/src"):  # fmt: skip
        assert _ignored(path, ignore), path
    for path in ("uv.lock", "pyproject.toml", "tools/meshgen/pyproject.toml", "libs/authz/src/authz/__init__.py"):
        assert not _ignored(path, ignore), path


def test_hadolint() -> None:
    try:
        result = tools.uv_tool(tools.HADOLINT, "hadolint", *(str(p) for p in DOCKERFILES.values()))
    except tools.ToolUnavailable as e:
        pytest.skip(str(e))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_images_named_in_k8s_are_the_ones_built_here() -> None:
    for svc in SERVICES:
        manifest = (REPO / "k8s" / "base" / f"{svc}.yaml").read_text()
        assert f"image: todo-suite/{svc}:0.1.0" in manifest
        assert Path(DOCKERFILES[svc]).is_file()

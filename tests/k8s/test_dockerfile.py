"""The one Dockerfile (repository root), read and replayed: there is no Docker engine here, so nothing is built.

What a build would show late is checked early: pinned bases, a non-root numeric user, exec-form CMD, the
two-step locked `uv sync`, a `dev` and a last `prod` stage, COPY sources that exist and are not ignored. And
`test_the_install_steps_build_a_venv_that_runs_the_service` runs the Dockerfile's own RUN and COPY steps for
each service, outside Docker, in an empty folder that receives only what those steps copy from a build
context filtered by .dockerignore — so an image that would lack a module its service imports fails here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.registry import load_services
from tests.k8s import tools

REPO = tools.REPO
DOCKERFILE = REPO / "Dockerfile"
SERVICES = load_services(REPO / "services.yaml")


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


def stages(text: str | None = None) -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions(DOCKERFILE.read_text() if text is None else text):
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, args
            found.append(Stage(match.group(2) or f"stage{len(found)}", match.group(1)))
        elif found:
            found[-1].instructions.append((keyword, args))
    return found


def _stage_map() -> dict[str, Stage]:
    return {s.name: s for s in stages()}


def _lineage(name: str) -> list[Stage]:
    """The stages `name` is built on, oldest first, ending with itself."""
    by_name = _stage_map()
    chain = [by_name[name]]
    while chain[0].base in by_name:
        chain.insert(0, by_name[chain[0].base])
    return chain


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


def _env_of(chain: list[Stage], service: str, port: int) -> dict[str, str]:
    """The ENV a RUN sees in the last stage of `chain`, with the build args substituted."""
    args = {"SERVICE": service, "PORT": str(port)}
    env: dict[str, str] = {}
    for stage in chain:
        for declaration in stage.all("ENV"):
            for key, value in (item.split("=", 1) for item in shlex.split(declaration)):
                env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), env.get(m.group(1), "")), value)
    return env


# --- what the file says ---------------------------------------------------------------------------------


def test_external_images_are_pinned_by_tag() -> None:
    found = stages()
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


def test_a_dev_stage_and_prod_last() -> None:
    found = stages()
    assert found[-1].name == "prod", "a plain `docker build` must give the production image"
    assert "dev" in {s.name for s in found}


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_runs_the_service_as_a_numeric_non_root_user_with_an_exec_form_cmd(target: str) -> None:
    stage = _stage_map()[target]
    (user,) = stage.all("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), f"{target}: USER {user} (numeric, so runAsNonRoot can verify it)"
    assert int(uid) > 0, f"{target}: USER {user} is root"
    (cmd,) = stage.all("CMD")
    argv = json.loads(cmd)  # exec form: a JSON array, no shell in between
    assert argv[:2] == ["uvicorn", "--factory"], argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - a container listens on its pod IP
    assert {"--loop", "uvloop", "--http", "httptools"} <= set(argv)
    assert ("--reload" in argv) == (target == "dev")
    assert stage.all("EXPOSE") == ["${PORT}"]
    # uvicorn takes its app and port from UVICORN_APP and UVICORN_PORT (https://www.uvicorn.org/settings/).
    for name, port in (("todos", 8001), ("gateway", 8080)):
        env = _env_of(_lineage(target), name, port)
        assert env["UVICORN_APP"] == f"{name}.app:create_app"
        assert env["UVICORN_PORT"] == str(port)


def test_uv_syncs_twice_locked_dependencies_first() -> None:
    syncs = [args for s in stages() for args in s.all("RUN") if "uv sync" in args]
    assert len(syncs) >= 2
    first, *then = syncs
    for args in syncs:
        for flag in ("--locked", "--no-dev", '--package "$SERVICE"'):
            assert flag in args, args
        assert "--mount=type=cache,target=/root/.cache/uv" in args, args
    assert "--no-install-workspace" in first
    assert all("--no-install-workspace" not in args for args in then)
    env = " ".join(_stage_map()["deps"].all("ENV"))
    for setting in ("UV_COMPILE_BYTECODE=1", "UV_LINK_MODE=copy", "UV_PYTHON_DOWNLOADS=never"):
        assert setting in env


def test_the_dependency_layer_copies_only_the_lockfile_and_every_members_pyproject() -> None:
    deps = _stage_map()["deps"]
    copied = []
    for args in deps.all("COPY"):
        if "--from=" not in args:
            copied += args.split()[:-1]
    assert sorted(copied) == sorted(
        ["pyproject.toml", "uv.lock", *(f"{m}/pyproject.toml" for m in _workspace_members())]
    ), "uv sync --locked checks uv.lock against every workspace member: add the new member's pyproject.toml"


def test_copy_sources_exist_and_are_not_ignored() -> None:
    ignore = _dockerignore()
    for stage in stages():
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: no such path"
                assert not _ignored(source, ignore), f"COPY {source}: excluded by .dockerignore"


def test_prod_holds_the_venv_and_nothing_else_of_the_build() -> None:
    prod = _stage_map()["prod"]
    assert prod.base == "base"
    assert prod.all("COPY") == ["--from=build /app/.venv /app/.venv"]
    assert not prod.all("RUN")


def test_the_dockerignore_keeps_local_state_and_tests_out() -> None:
    ignore = _dockerignore()
    for path in (".venv", ".run", ".git", "services/todos/tests", "libs/authz/tests", "k8s", "docs",
                 "libs/authz/src/authz/__pycache__", "tools/meshgen/src"):  # fmt: skip
        assert _ignored(path, ignore), path
    for path in ("uv.lock", "pyproject.toml", "tools/meshgen/pyproject.toml", "libs/authz/src/authz/__init__.py"):
        assert not _ignored(path, ignore), path


def test_hadolint() -> None:
    try:
        result = tools.uv_tool(tools.HADOLINT, "hadolint", str(DOCKERFILE))
    except tools.ToolUnavailable as e:
        pytest.skip(str(e))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_images_named_in_k8s_are_the_ones_built_here() -> None:
    for svc in SERVICES:
        manifest = (REPO / "k8s" / "base" / f"{svc}.yaml").read_text()
        assert f"image: todo-suite/{svc}:0.2.0" in manifest


# --- what the file does -------------------------------------------------------------------------------


def _build_context(into: Path) -> Path:
    """The repository as `docker build .` would send it: what .dockerignore leaves."""
    ignore = _dockerignore()
    for folder, dirs, files in os.walk(REPO):
        relative = Path(folder).relative_to(REPO)
        dirs[:] = [d for d in dirs if not _ignored(str(relative / d), ignore)]
        for name in files:
            path = relative / name
            if not _ignored(str(path), ignore):
                (into / relative).mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / path, into / path)
    return into


def _run_step(args: str, workdir: Path, context: Path, env: dict[str, str]) -> None:
    """One RUN, as a shell in the image would run it: its --mount options dropped, the bind-mounted build
    context at /context pointed at our copy of it."""
    tokens = args.split(" ")
    while tokens and tokens[0].startswith("--mount="):
        tokens.pop(0)
    script = " ".join(tokens).replace("/context", str(context))
    if script.startswith("test -n"):  # the base stage's user creation: nothing to replay outside an image
        return
    script = re.sub(r"\s*&& chown -R \S+ /app", "", script)
    result = subprocess.run(["sh", "-c", script], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"RUN {script}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("name", SERVICES)
def test_the_install_steps_build_a_venv_that_runs_the_service(name: str, tmp_path: Path) -> None:
    service = SERVICES[name]
    context = _build_context(tmp_path / "context")
    workdir = tmp_path / "app"
    workdir.mkdir()
    chain = _lineage("build")  # base -> deps -> sources -> build: what `prod` copies its venv from
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_", "PYTHON"))}
    env |= _env_of(chain, name, service.port) | {"SERVICE": name, "PORT": str(service.port)}
    # The image's PATH is its venv's bin and the system's; here, our folder's venv and the host's tools.
    host_path = [p for p in os.environ["PATH"].split(os.pathsep) if ".venv" not in p]
    env["PATH"] = os.pathsep.join([str(workdir / ".venv" / "bin"), *host_path])
    for stage in chain:
        for keyword, args in stage.instructions:
            if keyword == "COPY" and "--from=" not in args:
                *sources, destination = args.split()
                for source in sources:
                    target = workdir / destination
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(context / source, target)
            elif keyword == "RUN":
                _run_step(args, workdir, context, env)

    copied = sorted(str(p.parent.relative_to(workdir)) for p in workdir.glob("*/*/src"))
    assert copied == sorted(service.members), "the image holds exactly the members uv.lock names"
    python = workdir / ".venv" / "bin" / "python"
    # The venv alone runs the service (prod copies nothing else): its modules come from site-packages.
    shutil.rmtree(workdir / "services")
    shutil.rmtree(workdir / "libs")
    probe = f"import {name}.app as m; assert callable(m.create_app); print(m.__file__)"
    result = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert str(workdir / ".venv") in result.stdout, result.stdout
    assert sys.prefix not in result.stdout

"""The Tiltfile, evaluated without Tilt (tests/tilt/tilt_stub.py records what each Tilt builtin was asked).

For every boundary mode, with and without the mesh, on a cluster and with `--local`: the resources it declares,
the images it builds and how it live-updates them, the overlay it applies, its port forwards, labels and manual
test resources. Then the links to the rest of the repository: every path it names exists, each image's build
context holds what its Dockerfile copies, the resources match the workloads `kubectl kustomize` renders, and
devstack accepts the flags it is given. What this cannot show (a real build, deploy or live update) is listed
in docs/tilt.md.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
import shlex
import subprocess
import sys
import tokenize
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.registry import load_services
from tests.k8s import tools as k8s_tools
from tests.tilt.tilt_stub import Call, TiltfileError, TiltRun, Value, evaluate

ROOT = Path(__file__).resolve().parents[2]
TILTFILE = ROOT / "Tiltfile"
MODES = ("trust", "passthrough", "reissue", "extract", "phantom")
REGISTRY = load_services(ROOT / "services.yaml")
SERVICES = tuple(REGISTRY)
PORTS = {"identity": 9000, "todos": 8001, "reminders": 8002, "shares": 8003, "gateway": 8080}
#: The workloads every overlay renders (Deployments, the postgres StatefulSet, the reminders-scan CronJob).
WORKLOADS = {*SERVICES, "mailsink", "postgres", "reminders-scan"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
TEST_RESOURCES = {"unit-tests", "test-suite", "attack-matrix", "bench"}
ATTACK_MATRIX = "tests/e2e/test_attack_matrix.py"
ISTIO_CRD = "peerauthentications.security.istio.io"
#: Tilt's rule for a label: https://docs.tilt.dev/api.html#api.k8s_resource
LABEL = re.compile(r"^[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?$")

CLUSTER = [pytest.param(m, mesh, id=f"{m}-mesh" if mesh else m) for m in MODES for mesh in (False, True)]


def overlay(mode: str, mesh: bool) -> str:
    return f"k8s/overlays/{mode}/mesh" if mesh else f"k8s/overlays/{mode}"


def argv(mode: str, mesh: bool, *, local: bool = False) -> tuple[str, ...]:
    return ("--mode", mode, *(["--mesh"] if mesh else []), *(["--local"] if local else []))


ALL_CASES = [
    pytest.param(argv(m, mesh, local=local), id=f"{'local' if local else 'cluster'}-{m}{'-mesh' if mesh else ''}")
    for local in (False, True)
    for m in MODES
    for mesh in (False, True)
]


# ---- Evaluating (cached: each distinct evaluation runs once per session) --------------------------------------


@functools.cache
def tilt(
    args: tuple[str, ...] = (),
    *,
    subcommand: str = "up",
    istio: bool = True,
    files: str = "any",
    rendered: bool = False,
) -> TiltRun:
    """`tilt <subcommand> -- <args>`. files="any": every path exists (the declarations alone); "repo": the
    real checkout answers os.path.exists. rendered: decode_yaml_stream() sees `kubectl kustomize <overlay>`."""
    exists: Callable[[str], bool] | None = {"any": lambda _p: True, "none": lambda _p: False, "repo": None}[files]
    return evaluate(
        TILTFILE,
        argv=list(args),
        root=ROOT,
        tilt_subcommand=subcommand,
        local=lambda cmd: f"customresourcedefinition.apiextensions.k8s.io/{ISTIO_CRD}" if istio else "",
        exists=exists,
        render=render_overlay if rendered else None,
    )


@functools.cache
def render_overlay(path: str) -> str:
    # The same kubectl as tests/k8s: the one on PATH with kustomize v5, else the one TOOLING.md fetches.
    return k8s_tools.render(k8s_tools.kubectl(), ROOT / path)


# ---- Helpers --------------------------------------------------------------------------------------------------


def within(path: str, roots: list[str]) -> bool:
    """`path` is one of `roots` or lies under one."""
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def steps(build: Call, kind: str) -> list[Value]:
    return [step for step in build.kw.get("live_update", []) if step.kind == kind]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def forwards(resource: Call) -> list[Value]:
    return as_list(resource.kw.get("port_forwards", []))


@functools.cache
def workspace_members() -> list[str]:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    members = (p for g in globs for p in ROOT.glob(g) if (p / "pyproject.toml").is_file())
    return sorted(p.relative_to(ROOT).as_posix() for p in members)


def command_paths(run: TiltRun) -> list[tuple[str, str]]:
    """Repository paths named inside the commands of local resources (e.g. the attack matrix's test file)."""
    found = []
    for name, resource in run.local_resources.items():
        for key in ("cmd", "serve_cmd"):
            for token in shlex.split(resource.kw.get(key) or ""):
                if re.fullmatch(r"[\w.-]+(/[\w.-]+)+", token):
                    found.append((f"{name} {key}", token))
    return found


def make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


def dockerfile_instructions(text: str) -> list[tuple[str, list[str]]]:
    """(stage, words) for each instruction; continuation lines joined, comments dropped."""
    instructions: list[tuple[str, list[str]]] = []
    stage, pending = "", ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + line, posix=True)
        pending = ""
        if words[0].upper() == "FROM":
            stage = words[3].lower() if len(words) >= 4 and words[2].upper() == "AS" else ""
        instructions.append((stage, words))
    return instructions


def dockerfile_sources(text: str) -> list[str]:
    """The build-context paths a Dockerfile reads: COPY/ADD sources and RUN bind mounts, not those of a stage."""
    sources = []
    for _stage, words in dockerfile_instructions(text):
        keyword, flags = words[0].upper(), [w for w in words[1:] if w.startswith("--")]
        if keyword in ("COPY", "ADD") and not any(f.startswith("--from") for f in flags):
            sources += [w for w in words[1:] if not w.startswith("--")][:-1]
        elif keyword == "RUN":
            for flag in flags:
                options = dict(o.partition("=")[::2] for o in flag.removeprefix("--mount=").split(","))
                if flag.startswith("--mount=") and options.get("type") == "bind" and "from" not in options:
                    sources.append(options.get("source") or options.get("src") or ".")
    return [s.removeprefix("./").rstrip("/") or "." for s in sources]


def containers(obj: dict[str, Any], key: str = "containers") -> list[dict[str, Any]]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if obj["kind"] != "Pod":
        spec = spec["template"]["spec"]
    return spec.get(key, [])


# ---- The file itself ----------------------------------------------------------------------------------------


def test_plain_starlark() -> None:
    """No `while`, no `set(`, no f-string: Tilt would take them, the evaluator behind these tests would not."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(TILTFILE.read_text()).readline) if t.string.strip()]
    names = [t.string for t in tokens if t.type == tokenize.NAME]
    calls = [(a.string, b.string) for a, b in itertools.pairwise(tokens) if a.type == tokenize.NAME]
    assert names.count("while") == 0, "the Tiltfile uses `while`"
    assert ("set", "(") not in calls, "the Tiltfile calls set()"
    f_strings = [t.string for t in tokens if t.type == tokenize.STRING and re.match(r"(?i)^[rb]*f", t.string)]
    assert not f_strings, f"the Tiltfile has f-strings: {f_strings}"


def test_unknown_mode_fails_with_the_choices() -> None:
    with pytest.raises(TiltfileError, match=r'unknown --mode "bogus"') as excinfo:
        tilt(("--mode", "bogus"))
    assert all(mode in str(excinfo.value) for mode in MODES)
    with pytest.raises(TiltfileError, match=r'unknown --mode "bogus"'):
        tilt(("--mode", "bogus", "--local"))


def test_undefined_flag_is_refused() -> None:
    with pytest.raises(TiltfileError, match="not defined"):
        tilt(("--mod", "reissue"))


def test_missing_overlay_fails_clearly() -> None:
    with pytest.raises(TiltfileError, match=r"no Kustomize overlay at k8s/overlays/reissue/mesh"):
        tilt(argv("reissue", True), files="none")


def test_mesh_needs_istio_in_the_cluster() -> None:
    with pytest.raises(TiltfileError, match=rf"no Istio \(no CRD {re.escape(ISTIO_CRD)}\)"):
        tilt(argv("reissue", True), istio=False)
    (check,) = tilt(argv("reissue", True)).of("local")
    assert ISTIO_CRD in check.kw["command"]
    assert "--context kind-kind" in check.kw["command"]
    # Without the mesh, with --local and on `tilt down` (so a cluster whose Istio is gone can be cleaned), no check.
    assert not tilt(argv("reissue", False), istio=False).of("local")
    assert not tilt(argv("reissue", True, local=True), istio=False).of("local")
    assert not tilt(argv("reissue", True), subcommand="down", istio=False).of("local")


def test_default_mode_is_passthrough() -> None:
    (kustomize,) = tilt().of("kustomize")
    assert kustomize.kw["pathToDir"] == "k8s/overlays/passthrough"
    assert tilt(("--local",)).local_resources["suite"].kw["serve_cmd"].endswith("--mode passthrough")


def test_positional_args_choose_the_resources() -> None:
    (enabled,) = tilt(("--local", "suite")).of("config.set_enabled_resources")
    assert enabled.kw["resources"] == ["suite"]
    (everything,) = tilt().of("config.set_enabled_resources")
    assert everything.kw["resources"] == []


# ---- On a cluster -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_cluster_applies_the_overlay_of_the_mode(mode: str, mesh: bool) -> None:
    run = tilt(argv(mode, mesh))
    assert [c.kw["pathToDir"] for c in run.of("kustomize")] == [overlay(mode, mesh)]
    assert len(run.of("k8s_yaml")) == 1
    assert run.of("allow_k8s_contexts"), "allow_k8s_contexts() is never called"
    allowed = {c for call in run.of("allow_k8s_contexts") for c in as_list(call.kw["contexts"])}
    assert {"kind-kind", "minikube", "docker-desktop"} <= allowed
    assert any(c.startswith("k3d-") for c in allowed)


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_cluster_builds_each_dev_image_with_live_update(mode: str, mesh: bool) -> None:
    builds = tilt(argv(mode, mesh)).docker_builds
    assert set(builds) == {f"todo-suite/{svc}" for svc in SERVICES}
    for svc in SERVICES:
        build = builds[f"todo-suite/{svc}"]
        assert build.kw["context"] == "."
        assert build.kw["dockerfile"] == "Dockerfile"
        assert build.kw["target"] == "dev"
        assert build.kw["build_args"] == {"SERVICE": svc, "PORT": str(REGISTRY[svc].port)}
        # Tilt's order: fall_back_on steps, then sync, then run.
        kinds = [step.kind for step in build.kw["live_update"]]
        assert kinds == sorted(kinds, key=["fall_back_on", "sync", "run"].index), kinds
        syncs = {s.kw["local_path"]: s.kw["remote_path"] for s in steps(build, "sync")}
        assert syncs == {f"{member}/src": f"/app/{member}/src" for member in REGISTRY[svc].members}
        # A change the build context sees but no sync covers means a rebuild; the dependency files say so.
        fall_back = [f for step in steps(build, "fall_back_on") for f in step.kw["files"]]
        assert {"uv.lock", "pyproject.toml"} <= set(fall_back)
        assert {f"{m}/pyproject.toml" for m in workspace_members()} <= set(fall_back)
        # Whatever live_update watches must be inside the build context (`only`), or Tilt never sees it change.
        only = build.kw["only"]
        outside = [p for p in [*syncs, *fall_back] if not within(p, only)]
        assert not outside, f"{svc}: live_update names paths outside only=: {outside}"


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_cluster_declares_a_labelled_resource_per_workload(mode: str, mesh: bool) -> None:
    run = tilt(argv(mode, mesh))
    resources = run.k8s_resources
    assert set(resources) == WORKLOADS
    labels = {name: r.kw.get("labels", []) for name, r in run.resources.items()}
    assert all(labels.values()), f"resources without a label: {[n for n, v in labels.items() if not v]}"
    assert all(LABEL.match(label) for values in labels.values() for label in values), labels
    assert labels["gateway"] == ["edge"]
    assert labels["postgres"] == ["platform"]
    assert all(labels[svc] == ["services"] for svc in ("todos", "reminders", "shares", "reminders-scan"))
    assert {"edge", "services", "platform", "tests"} <= {label for values in labels.values() for label in values}


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_cluster_services_wait_for_postgres_and_identity(mode: str, mesh: bool) -> None:
    run = tilt(argv(mode, mesh))
    deps = {name: r.kw.get("resource_deps", []) for name, r in run.resources.items()}
    for svc in ("todos", "reminders", "shares"):
        assert {"postgres", "identity"} <= set(deps[svc]), svc
    assert "postgres" in deps["identity"]
    assert "identity" in deps["gateway"]
    unknown = {(n, d) for n, ds in deps.items() for d in ds if d not in run.resources}
    assert not unknown, f"resource_deps naming no resource: {unknown}"


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_cluster_forwards_the_gateway_and_identity(mode: str, mesh: bool) -> None:
    resources = tilt(argv(mode, mesh)).k8s_resources
    local_ports = {name: [pf.kw["local_port"] for pf in forwards(r)] for name, r in resources.items()}
    assert local_ports["gateway"] == [8080]
    assert local_ports["identity"] == [9000]
    # The services are forwarded only without the mesh: a port-forward would enter behind the sidecar.
    for svc in ("todos", "reminders", "shares"):
        assert local_ports[svc] == ([] if mesh else [PORTS[svc]]), svc
    # On the addresses of `make up` (and of the issuer in k8s/), the discovery document one click away.
    assert {pf.kw.get("host") for r in resources.values() for pf in forwards(r)} == {"127.0.0.1"}
    assert forwards(resources["identity"])[0].kw["link_path"] == "/.well-known/openid-configuration"


def test_tilt_ci_does_not_wait_for_the_cronjobs_schedule() -> None:
    assert tilt(argv("reissue", False), subcommand="ci").k8s_resources["reminders-scan"].kw["auto_init"] is False
    assert tilt(argv("reissue", False)).k8s_resources["reminders-scan"].kw.get("auto_init", True) is True


# ---- Without a cluster ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_local_runs_devstack_and_nothing_on_a_cluster(mode: str, mesh: bool) -> None:
    run = tilt(argv(mode, mesh, local=True))
    for builtin in ("docker_build", "k8s_resource", "k8s_yaml", "kustomize", "allow_k8s_contexts", "k8s_context"):
        assert not run.of(builtin), f"--local calls {builtin}()"
    assert set(run.local_resources) == {"suite"} | TEST_RESOURCES
    suite = run.local_resources["suite"]
    assert suite.kw["serve_cmd"] == f"uv run --no-sync devstack up --mode {mode}" + (" --mesh" if mesh else "")
    assert suite.kw["labels"] == ["services"]
    assert suite.kw.get("trigger_mode", "TRIGGER_MODE_AUTO") == "TRIGGER_MODE_AUTO"
    probe = suite.kw["readiness_probe"]
    assert probe.kind == "probe"
    assert probe.kw["http_get"].kw == {"port": 8000, "path": "/healthz"}  # the web UI: devstack starts it last
    assert {link.kw["url"] for link in suite.kw["links"]} >= {
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8080/api/todos/whoami",
    }


def test_devstack_accepts_the_flags_suite_passes() -> None:
    serve_cmd = tilt(argv("reissue", True, local=True)).local_resources["suite"].kw["serve_cmd"]
    args = shlex.split(serve_cmd)
    assert args[:5] == ["uv", "run", "--no-sync", "devstack", "up"]
    help_text = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "up", "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    ).stdout
    flags = [a for a in args[5:] if a.startswith("--")]
    assert flags == ["--mode", "--mesh"]
    missing = [f for f in flags if f not in help_text]
    assert not missing, f"`devstack up` does not accept {missing}:\n{help_text}"
    assert all(mode in help_text for mode in MODES), help_text


# ---- Tests as manual resources, in every case ---------------------------------------------------------------


@pytest.mark.parametrize("args", ALL_CASES)
def test_tests_are_manual_resources(args: tuple[str, ...]) -> None:
    resources = tilt(args).local_resources
    assert set(resources) >= TEST_RESOURCES
    for name in TEST_RESOURCES:
        kw = resources[name].kw
        assert kw["trigger_mode"] == "TRIGGER_MODE_MANUAL", name
        assert kw["auto_init"] is False, name
        assert kw["labels"] == ["tests"], name
    assert resources["attack-matrix"].kw["cmd"].endswith(f"uv run --no-sync pytest {ATTACK_MATRIX}")
    assert resources["test-suite"].kw["cmd"] == "make test"


# ---- Everything it names is in the repository ---------------------------------------------------------------


@pytest.mark.parametrize("args", ALL_CASES)
def test_every_path_it_names_exists(args: tuple[str, ...]) -> None:
    run = tilt(args, files="repo") if "--local" in args else _cluster_with_real_files(args)
    named = [*run.named_paths(), *command_paths(run)]
    assert named
    missing = sorted({f"{path} ({where})" for where, path in named if not (ROOT / path).exists()})
    assert not missing, "the Tiltfile names paths that are not in the repository:\n  " + "\n  ".join(missing)
    targets = {t for r in run.local_resources.values() for t in re.findall(r"\bmake ([\w-]+)", r.kw.get("cmd", ""))}
    assert targets <= make_targets(), f"make targets missing from the Makefile: {targets - make_targets()}"


def _cluster_with_real_files(args: tuple[str, ...]) -> TiltRun:
    try:
        return tilt(args, files="repo")
    except TiltfileError as e:
        pytest.fail(f"the Tiltfile fails on this checkout: {e}")


@pytest.mark.parametrize("svc", SERVICES)
def test_build_context_is_what_the_dockerfile_copies(svc: str) -> None:
    build = tilt().docker_builds[f"todo-suite/{svc}"]
    dockerfile = ROOT / build.kw["dockerfile"]
    assert dockerfile.is_file(), f"{dockerfile.relative_to(ROOT)} is missing"
    text = dockerfile.read_text()
    stages = {stage for stage, _ in dockerfile_instructions(text) if stage}
    assert "dev" in stages, f"{dockerfile.name} has no `dev` stage (stages: {sorted(stages)})"
    assert "--reload" in text, "the dev stage must run uvicorn --reload, or a live_update sync changes nothing"
    only = build.kw["only"]
    # The Dockerfile's COPY lines, and what its sources stage copies from the bind-mounted context: the
    # service's members (src/ and README.md), as tests/k8s/test_dockerfile.py shows by replaying it.
    members = REGISTRY[svc].members
    copied = [f"{m}/src" for m in members] + [f"{m}/README.md" for m in members if (ROOT / m / "README.md").is_file()]
    sources = [s for s in dockerfile_sources(text) if s != "."] + copied
    # only= leaves out of the context what it does not list: a COPY of anything else fails the build.
    uncovered = [s for s in sources if s != "." and not within(s, only) and not any(within(o, [s]) for o in only)]
    assert not uncovered, f"{svc}: the Dockerfile copies paths outside only=: {uncovered}"
    unused = [o for o in only if not any(within(o, [s]) or within(s, [o]) for s in sources)]
    assert not unused, f"{svc}: only= lists paths the Dockerfile never copies: {unused}"


# ---- The resources are the workloads the overlay renders ---------------------------------------------------


@pytest.mark.parametrize(("mode", "mesh"), CLUSTER)
def test_resources_match_the_rendered_overlay(mode: str, mesh: bool) -> None:
    run = _rendered(argv(mode, mesh))
    objects = run.applied_objects()
    workloads = {o["metadata"]["name"]: o for o in objects if o.get("kind") in WORKLOAD_KINDS}
    assert set(run.k8s_resources) == set(workloads)
    by_kind = {(o["kind"], name) for name, o in workloads.items()}
    assert {("StatefulSet", "postgres"), ("CronJob", "reminders-scan")} <= by_kind
    assert {name for kind, name in by_kind if kind == "Deployment"} == {*SERVICES, "mailsink"}

    # Each built image is used by a workload, and each of our images in a workload is built.
    used = {
        c["image"].split(":")[0]
        for o in workloads.values()
        for key in ("containers", "initContainers")
        for c in containers(o, key)
        if c["image"].startswith("todo-suite/")
    }
    assert used == set(run.docker_builds)

    # Port forwards reach a port the workload's containers expose.
    for name, resource in run.k8s_resources.items():
        exposed = {p["containerPort"] for c in containers(workloads[name]) for p in c.get("ports", [])}
        for pf in forwards(resource):
            assert pf.kw.get("container_port", pf.kw["local_port"]) in exposed, (name, pf.kw, exposed)

    # Under Tilt the containers running our images may be written to (live_update syncs into /app).
    for name in SERVICES:
        (app,) = [c for c in containers(workloads[name]) if c["image"].startswith("todo-suite/")]
        assert app["securityContext"]["readOnlyRootFilesystem"] is False, name


def _rendered(args: tuple[str, ...]) -> TiltRun:
    try:
        return tilt(args, files="repo", rendered=True)
    except TiltfileError as e:
        pytest.fail(f"the Tiltfile fails on this checkout: {e}")


def test_the_tilt_only_patch_leaves_the_rest_hardened() -> None:
    rendered = {(o["kind"], o["metadata"]["name"]): o for o in _rendered(argv("passthrough", False)).applied_objects()}
    original = {
        (o["kind"], o["metadata"]["name"]): o
        for o in yaml.safe_load_all(render_overlay(overlay("passthrough", False)))
        if o
    }
    assert rendered.keys() == original.keys()
    changed = []
    for key, obj in original.items():
        if obj.get("kind") not in WORKLOAD_KINDS:
            assert rendered[key] == obj, key
            continue
        for kind in ("containers", "initContainers"):
            for before, after in zip(containers(obj, kind), containers(rendered[key], kind), strict=True):
                if before != after:
                    changed.append((key[1], kind, after["name"]))
                    hardened = before.get("securityContext", {})
                    assert after == {**before, "securityContext": {**hardened, "readOnlyRootFilesystem": False}}
    assert sorted(changed) == sorted((svc, "containers", svc) for svc in SERVICES)


# ---- The stub itself: it must refuse what Tilt refuses, or the tests above prove little ----------------------


@pytest.mark.parametrize(
    ("source", "args", "error"),
    [
        ('docker_build("x", ".", targt = "dev")', (), "unexpected keyword argument 'targt'"),
        ('docker_build("x")', (), "missing required argument"),
        ('k8s_resource("a")\nk8s_resource("a")', (), "already exists"),
        ('docker_build("x", ".")\ndocker_build("x", ".")', (), "already built"),
        ('config.define_bool("a")\nconfig.parse()', ("--b",), "not defined"),
        ('config.define_string("a")\nconfig.parse()', ("--a",), "needs an argument"),
        ("x = set([1])", (), "set"),
        ('fail("stop here")', (), "^stop here$"),
    ],
)
def test_the_stub_refuses_what_tilt_refuses(tmp_path: Path, source: str, args: tuple[str, ...], error: str) -> None:
    tiltfile = tmp_path / "Tiltfile"
    tiltfile.write_text(source + "\n")
    with pytest.raises(TiltfileError, match=error):
        evaluate(tiltfile, argv=list(args))

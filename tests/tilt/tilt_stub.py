"""Evaluate a Tiltfile without Tilt: starlark-pyo3 runs it, and stubs of Tilt's builtins record every call.

No `tilt` binary, Docker or cluster is needed, and nothing is built, applied or started: a call such as
`docker_build(...)` only lands in `TiltRun.calls`, with each argument under its parameter name as Tilt's API
names it (https://docs.tilt.dev/api.html). A stub refuses what Tilt would refuse at load time: an unknown
keyword, a missing required argument, an undefined `tilt up -- --flag`. It cannot tell whether Tilt would then
build, deploy or run anything successfully; that needs a real Tilt (docs/tilt.md).

    run = evaluate(Path("Tiltfile"), argv=["--mode", "reissue", "--mesh"], root=Path("."))
    run.docker_builds["todo-suite/todos"].kw["target"]   # "dev"

The evaluator (starlark-rust) has no `while` and no `set()`; Tilt has both, a Tiltfile read here must not use them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark as sl
import yaml


def _signature(params: str, required: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(params.split()), tuple(required.split())


#: Tilt builtin -> (its parameters in order, the required ones). From Tilt's API reference
#: (https://docs.tilt.dev/api.html, source: tilt-dev/tilt internal/tiltfile/api/__init__.py).
SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "version_settings": _signature("check_updates constraint"),
    "update_settings": _signature(
        "max_parallel_updates k8s_upsert_timeout_secs suppress_unused_image_warnings k8s_server_side_apply"
    ),
    "ci_settings": _signature("k8s_grace_period timeout readiness_timeout"),
    "allow_k8s_contexts": _signature("contexts", "contexts"),
    "k8s_context": _signature(""),
    "k8s_namespace": _signature(""),
    "k8s_yaml": _signature("yaml allow_duplicates", "yaml"),
    "kustomize": _signature("pathToDir kustomize_bin flags", "pathToDir"),
    "docker_build": _signature(
        "ref context build_args dockerfile dockerfile_contents live_update match_in_env_vars ignore only entrypoint "
        "target ssh network secret extra_tag container_args cache_from pull platform extra_hosts",
        "ref context",
    ),
    "k8s_resource": _signature(
        "workload new_name port_forwards extra_pod_selectors trigger_mode resource_deps objects auto_init "
        "pod_readiness links labels discovery_strategy"
    ),
    "local_resource": _signature(
        "name cmd deps trigger_mode resource_deps ignore auto_init serve_cmd cmd_bat serve_cmd_bat allow_parallel "
        "links labels env serve_env readiness_probe dir serve_dir",
        "name",
    ),
    "fall_back_on": _signature("files", "files"),
    "sync": _signature("local_path remote_path", "local_path remote_path"),
    "run": _signature("cmd trigger echo_off", "cmd"),
    "port_forward": _signature("local_port container_port name link_path host", "local_port"),
    "link": _signature("url name", "url"),
    "probe": _signature(
        "initial_delay_secs timeout_secs period_secs success_threshold failure_threshold exec http_get tcp_socket"
    ),
    "http_get_action": _signature("port host scheme path", "port"),
    "tcp_socket_action": _signature("port host", "port"),
    "exec_action": _signature("command", "command"),
    "watch_file": _signature("file_path", "file_path"),
    "decode_yaml_stream": _signature("yaml", "yaml"),
    "read_json": _signature("path default", "path"),
    "encode_yaml_stream": _signature("objs", "objs"),
    "read_yaml": _signature("path default", "path"),
    "local": _signature("command quiet command_bat echo_off env dir stdin", "command"),
    "warn": _signature("msg", "msg"),
    "fail": _signature("msg", "msg"),
    "config.define_string": _signature("name args usage", "name"),
    "config.define_bool": _signature("name args usage", "name"),
    "config.define_string_list": _signature("name args usage", "name"),
    "config.parse": _signature(""),
    "config.set_enabled_resources": _signature("resources", "resources"),
    "config.clear_enabled_resources": _signature(""),
    "os.path.exists": _signature("path", "path"),
    "shlex.quote": _signature("s", "s"),
}

#: Builtins that return a Tilt object (a live-update step, a port forward, a Blob, ...) rather than nothing.
CONSTRUCTORS = (
    "kustomize", "fall_back_on", "sync", "run", "port_forward", "link", "probe", "http_get_action",
    "tcp_socket_action", "exec_action", "encode_yaml_stream",
)  # fmt: skip

# Tilt's namespaced builtins (`config.parse()`, `os.path.exists()`) as structs of the recording callables.
_PRELUDE = """
config = struct(
    define_string = _tilt_config_define_string,
    define_bool = _tilt_config_define_bool,
    define_string_list = _tilt_config_define_string_list,
    parse = _tilt_config_parse,
    set_enabled_resources = _tilt_config_set_enabled_resources,
    clear_enabled_resources = _tilt_config_clear_enabled_resources,
    tilt_subcommand = _tilt_subcommand,
    main_dir = _tilt_main_dir,
    main_path = _tilt_main_path,
)
os = struct(name = "posix", path = struct(exists = _tilt_os_path_exists))
shlex = struct(quote = _tilt_shlex_quote)
"""


class TiltfileError(Exception):
    """The Tiltfile stopped: it called fail(), or Tilt would reject a call or a flag."""


@dataclass(frozen=True)
class Call:
    """One call of a Tilt builtin; `kw` holds every argument given, by its parameter name."""

    name: str
    kw: dict[str, Any]


@dataclass(frozen=True)
class Value:
    """What a Tilt constructor returned (a `sync` step, a `port_forward`, the Blob of `kustomize`, ...)."""

    kind: str
    kw: dict[str, Any]


@dataclass
class TiltRun:
    """Everything one evaluation declared, in call order."""

    calls: list[Call] = field(default_factory=list)

    def of(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    @property
    def docker_builds(self) -> dict[str, Call]:
        return {c.kw["ref"]: c for c in self.of("docker_build")}

    @property
    def k8s_resources(self) -> dict[str, Call]:
        return {c.kw.get("new_name") or c.kw["workload"]: c for c in self.of("k8s_resource")}

    @property
    def local_resources(self) -> dict[str, Call]:
        return {c.kw["name"]: c for c in self.of("local_resource")}

    @property
    def resources(self) -> dict[str, Call]:
        return {**self.k8s_resources, **self.local_resources}

    def applied_objects(self) -> list[dict[str, Any]]:
        """The Kubernetes objects handed to k8s_yaml() as data (an encode_yaml_stream Blob)."""
        objects: list[dict[str, Any]] = []
        for call in self.of("k8s_yaml"):
            blob = call.kw["yaml"]
            if not (isinstance(blob, Value) and blob.kind == "encode_yaml_stream"):
                raise AssertionError(f"k8s_yaml() was given {blob!r}, not data this stub can read")
            objects += blob.kw["objs"]
        return objects

    def named_paths(self) -> Iterator[tuple[str, str]]:
        """(where, path) for every repository path an argument names: files Tilt reads, watches or builds from."""
        for call in self.calls:
            kw = call.kw
            if call.name == "os.path.exists":
                yield "os.path.exists", kw["path"]
            elif call.name == "kustomize":
                yield "kustomize", kw["pathToDir"]
            elif call.name == "k8s_yaml" and isinstance(kw["yaml"], str | list):
                yield from (("k8s_yaml", p) for p in _as_list(kw["yaml"]))
            elif call.name == "watch_file":
                yield "watch_file", kw["file_path"]
            elif call.name == "docker_build":
                ref = kw["ref"]
                yield f"{ref} context", kw["context"]
                yield f"{ref} dockerfile", kw.get("dockerfile", "Dockerfile")
                yield from ((f"{ref} only", p) for p in _as_list(kw.get("only", [])))
                for step in kw.get("live_update", []):
                    if step.kind == "sync":
                        yield f"{ref} sync", step.kw["local_path"]
                    elif step.kind == "fall_back_on":
                        yield from ((f"{ref} fall_back_on", p) for p in _as_list(step.kw["files"]))
                    elif step.kind == "run":
                        yield from ((f"{ref} run trigger", p) for p in _as_list(step.kw.get("trigger", [])))
            elif call.name == "local_resource":
                name = kw["name"]
                yield from ((f"{name} deps", p) for p in _as_list(kw.get("deps") or []))
                for key in ("dir", "serve_dir"):
                    if kw.get(key):
                        yield f"{name} {key}", kw[key]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _bind(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    params, required = SIGNATURES[name]
    if len(args) > len(params):
        raise TypeError(f"{name}() takes at most {len(params)} positional arguments, got {len(args)}")
    bound = dict(zip(params, args, strict=False))
    for key, value in kwargs.items():
        if key not in params:
            raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
        if key in bound:
            raise TypeError(f"{name}() got multiple values for argument {key!r}")
        bound[key] = value
    missing = [p for p in required if p not in bound]
    if missing:
        raise TypeError(f"{name}() missing required argument(s): {', '.join(missing)}")
    return bound


def _refuse_duplicates(run: TiltRun, builtin: str, kw: dict[str, Any]) -> None:
    """Tilt refuses a second docker_build of one image, and a second resource of one name."""
    if builtin == "docker_build" and kw["ref"] in run.docker_builds:
        raise TiltfileError(f"docker_build: image {kw['ref']!r} is already built")
    if builtin == "k8s_resource":
        name = kw.get("new_name") or kw.get("workload", "")
    elif builtin == "local_resource":
        name = kw["name"]
    else:
        return
    if name in run.resources:
        raise TiltfileError(f"{builtin}: a resource named {name!r} already exists")


@dataclass
class _Flag:
    kind: str  # "string", "bool" or "string_list"
    positional: bool


def _parse_flags(defined: dict[str, _Flag], argv: list[str]) -> dict[str, Any]:
    """What config.parse() returns for `tilt up -- <argv>`: only the settings given, as Tilt does."""
    result: dict[str, Any] = {}
    positional = [n for n, f in defined.items() if f.positional]
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-"):
            if not positional:
                raise TiltfileError(f"positional argument {arg!r} given, but the Tiltfile defines none")
            flag = defined[positional[0]]
            if flag.kind == "string_list":
                result.setdefault(positional[0], []).append(arg)
            else:
                result[positional[0]] = arg
            continue
        key, has_value, value = arg.lstrip("-").partition("=")
        flag = defined.get(key)
        if flag is None or flag.positional:
            raise TiltfileError(f"flag provided but not defined: -{key}")
        if flag.kind == "bool":
            if has_value and value.lower() not in ("true", "false", "1", "0"):
                raise TiltfileError(f"invalid boolean value {value!r} for -{key}")
            result[key] = not has_value or value.lower() in ("true", "1")
            continue
        if not has_value:
            if not rest:
                raise TiltfileError(f"flag needs an argument: -{key}")
            value = rest.pop(0)
        if flag.kind == "string_list":
            result.setdefault(key, []).append(value)
        else:
            result[key] = value
    return result


def evaluate(
    tiltfile: Path,
    *,
    argv: list[str] | tuple[str, ...] = (),
    root: Path | None = None,
    tilt_subcommand: str = "up",
    k8s_context: str = "kind-kind",
    local: Callable[[str], str] = lambda _cmd: "",
    exists: Callable[[str], bool] | None = None,
    render: Callable[[str], str] | None = None,
    extensions: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
) -> TiltRun:
    """Evaluate `tiltfile` as `tilt <tilt_subcommand> -- <argv>` would, with recording stubs.

    `root` is where relative paths are resolved (os.path.exists), by default the Tiltfile's folder.
    `local(command)` answers the Tiltfile's local() calls (stdout); nothing is executed.
    `exists(path)` answers os.path.exists(), by default from the files under `root`.
    `render(path)` is the YAML that kustomize(path) stands for, for decode_yaml_stream(); without it, none.
    `extensions` answers `load("ext://name", ...)`: {"ext://name": {"symbol": callable}}.
    """
    root = root or tiltfile.parent
    run = TiltRun()
    flags: dict[str, _Flag] = {}
    failure: list[str] = []
    module = sl.Module()

    def record(builtin: str, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        bound = _bind(builtin, args, kwargs)
        _refuse_duplicates(run, builtin, bound)
        run.calls.append(Call(builtin, bound))
        return bound

    def recorder(builtin: str) -> Callable[..., Any]:
        def stub(*args: Any, **kwargs: Any) -> Any:
            bound = record(builtin, *args, **kwargs)
            return sl.OpaquePythonObject(Value(builtin, bound)) if builtin in CONSTRUCTORS else None

        return stub

    def definer(kind: str) -> Callable[..., None]:
        def define(*args: Any, **kwargs: Any) -> None:
            bound = record(f"config.define_{kind}", *args, **kwargs)
            if bound["name"] in flags:
                raise TiltfileError(f"config.define_{kind}: {bound['name']!r} is already defined")
            flags[bound["name"]] = _Flag(kind, bool(bound.get("args", False)))

        return define

    def config_parse() -> dict[str, Any]:
        record("config.parse")
        return _parse_flags(flags, list(argv))

    def fail(*args: Any, **kwargs: Any) -> None:
        failure.append(str(record("fail", *args, **kwargs)["msg"]))
        raise TiltfileError(failure[-1])

    def os_path_exists(*args: Any, **kwargs: Any) -> bool:
        path = record("os.path.exists", *args, **kwargs)["path"]
        return exists(path) if exists else (root / path).exists()

    def run_local(*args: Any, **kwargs: Any) -> str:
        command = record("local", *args, **kwargs)["command"]
        return local(command if isinstance(command, str) else shlex.join(command))

    def decode_yaml_stream(*args: Any, **kwargs: Any) -> list[Any]:
        blob = record("decode_yaml_stream", *args, **kwargs)["yaml"]
        if isinstance(blob, Value) and blob.kind == "kustomize":
            text = render(blob.kw["pathToDir"]) if render else ""
        elif isinstance(blob, str):
            text = blob
        else:
            raise TypeError(f"decode_yaml_stream(): cannot read {blob!r}")
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]

    def read_json(*args: Any, **kwargs: Any) -> Any:
        bound = record("read_json", *args, **kwargs)
        path = root / bound["path"]
        return json.loads(path.read_text()) if path.exists() else bound.get("default")

    def read_yaml(*args: Any, **kwargs: Any) -> Any:
        # The real file, relative to the Tiltfile (Tilt resolves it the same way): the registry it reads is
        # the repository's, whatever `files` the test fakes for os.path.exists().
        path = record("read_yaml", *args, **kwargs)["path"]
        return yaml.safe_load((tiltfile.parent / path).read_text())

    def current_context(*args: Any, **kwargs: Any) -> str:
        record("k8s_context", *args, **kwargs)
        return k8s_context

    for name in SIGNATURES:
        if "." not in name and name not in (
            "fail",
            "local",
            "k8s_context",
            "decode_yaml_stream",
            "read_json",
            "read_yaml",
        ):
            module.add_callable(name, recorder(name))
    module.add_callable("fail", fail)
    module.add_callable("local", run_local)
    module.add_callable("k8s_context", current_context)
    module.add_callable("decode_yaml_stream", decode_yaml_stream)
    module.add_callable("read_json", read_json)
    module.add_callable("read_yaml", read_yaml)
    module.add_callable("_tilt_config_define_string", definer("string"))
    module.add_callable("_tilt_config_define_bool", definer("bool"))
    module.add_callable("_tilt_config_define_string_list", definer("string_list"))
    module.add_callable("_tilt_config_parse", config_parse)
    module.add_callable("_tilt_config_set_enabled_resources", recorder("config.set_enabled_resources"))
    module.add_callable("_tilt_config_clear_enabled_resources", recorder("config.clear_enabled_resources"))
    module.add_callable("_tilt_os_path_exists", os_path_exists)
    module.add_callable("_tilt_shlex_quote", lambda s: shlex.quote(record("shlex.quote", s)["s"]))
    module["_tilt_subcommand"] = tilt_subcommand
    module["_tilt_main_dir"] = str(root)
    module["_tilt_main_path"] = str(tiltfile)
    module["TRIGGER_MODE_AUTO"] = "TRIGGER_MODE_AUTO"
    module["TRIGGER_MODE_MANUAL"] = "TRIGGER_MODE_MANUAL"

    dialect = sl.Dialect.extended()
    dialect.enable_top_level_stmt = True  # Tilt allows top-level if/for
    dialect.enable_f_strings = False  # Tilt's Starlark has no f-strings
    dialect.enable_types = sl.DialectTypes.DISABLE  # nor type annotations
    globals_ = sl.Globals.extended_by([sl.LibraryExtension.StructType, sl.LibraryExtension.Print])

    def load(module_id: str) -> sl.FrozenModule:
        symbols = (extensions or {}).get(module_id)
        if symbols is None:
            raise TiltfileError(f"load({module_id!r}): no stub for it; pass extensions={{{module_id!r}: {{...}}}}")
        ext = sl.Module()
        for symbol, fn in symbols.items():
            ext.add_callable(symbol, fn)
        return ext.freeze()

    sl.eval(module, sl.parse("<tilt prelude>", _PRELUDE, dialect), globals_)
    try:
        ast = sl.parse(str(tiltfile), tiltfile.read_text(), dialect)
        sl.eval(module, ast, globals_, sl.FileLoader(load))
    except sl.StarlarkError as e:
        raise TiltfileError(failure[-1] if failure else str(e)) from e
    return run

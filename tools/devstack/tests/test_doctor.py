"""`make doctor` (devstack/doctor.py): each check says OK, or MISSING with how to get it; only a missing
required thing fails the command."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devstack import doctor
from devstack.doctor import Check


def test_a_taken_port_is_reported_with_its_number_and_who_needs_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (check,) = doctor.check_ports({"gateway": port})
    assert not check.ok
    assert check.required
    assert check.line().startswith("MISSING")
    assert f"port {port}" in check.line()
    assert "gateway needs it" in check.detail
    assert f"--port gateway=1{port}" in check.detail  # how to run beside it


def test_a_free_port_is_ok() -> None:
    (check,) = doctor.check_ports({"todos": 8001}, free=lambda port: True)
    assert check.ok
    assert check.line().startswith("OK")
    assert "todos" in check.detail


def test_a_missing_tool_says_how_to_get_it() -> None:
    check = doctor.check_tool(
        "jq", "the labs' commands", "apt-get install jq, or brew install jq", which=lambda _: None
    )
    assert (check.ok, check.required) == (False, True)
    assert "not on PATH (the labs' commands): apt-get install jq, or brew install jq" in check.line()


def test_a_present_tool_shows_its_version(tmp_path: Path) -> None:
    tool = tmp_path / "jq"
    tool.write_text("#!/bin/sh\necho jq-1.7.1\n")
    tool.chmod(0o755)
    check = doctor.check_tool("jq", "the labs", "install it", which=lambda _: str(tool))
    assert check.ok
    assert check.detail == f"jq-1.7.1 ({tool})"


def test_an_old_python_is_missing() -> None:
    assert not doctor.check_python((3, 10, 14)).ok
    assert doctor.check_python((3, 11, 0)).ok


def test_envoy_missing_points_at_make_install() -> None:
    def nowhere() -> str:
        raise FileNotFoundError

    check = doctor.check_envoy(nowhere)
    assert not check.ok
    assert check.required
    assert "make install" in check.detail


def test_chromium_and_postgres_are_optional(tmp_path: Path) -> None:
    chromium = doctor.check_chromium(tmp_path / "chromium")
    assert (chromium.ok, chromium.required) == (False, False)
    assert chromium.line().startswith("MISSING (optional)")
    assert "make chromium" in chromium.detail

    def no_server_programs() -> Path:
        raise FileNotFoundError

    postgres = doctor.check_postgres(answers=lambda port: False, server_bin=no_server_programs)
    assert (postgres.ok, postgres.required) == (False, False)
    assert "apt-get install postgresql" in postgres.detail
    assert doctor.check_postgres(answers=lambda port: True).ok


def test_the_default_ports_are_the_suites() -> None:
    ports = doctor.default_ports()
    assert {ports[name] for name in ("identity", "gateway", "todos", "web")} == {9000, 8080, 8001, 8000}


@pytest.mark.parametrize(
    ("found", "code"),
    [
        ([Check("jq", True, "jq-1.7"), Check("chromium", False, "get it", required=False)], 0),
        ([Check("jq", False, "apt-get install jq"), Check("chromium", True, "/usr/bin/chromium", required=False)], 1),
    ],
)
def test_only_a_required_check_fails_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], found: list[Check], code: int
) -> None:
    monkeypatch.setattr(doctor, "checks", lambda: found)
    assert doctor.main() == code
    out = capsys.readouterr()
    assert [line for line in out.out.splitlines() if line.startswith(("OK", "MISSING"))] == [c.line() for c in found]
    assert ("1 required check(s) failed: jq" in out.err) == (code == 1)

"""`python -m meshgen`: what it writes where, `--check`, and how it reports a bad policy."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from meshgen import netpol
from meshgen.cli import main

from .conftest import POLICY_FILE, REPO


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {"k8s": tmp_path / "k8s", "netpol": tmp_path / "network-policies", "run": tmp_path / "run"}


def run(dirs: dict[str, Path], *args: str, policy: Path = POLICY_FILE) -> int:
    return main(
        [
            *args,
            *("--policy", str(policy), "--k8s-dir", str(dirs["k8s"]), "--netpol-dir", str(dirs["netpol"])),
            *("--out", str(dirs["run"])),
        ]
    )


def test_everything_by_default(dirs, capsys) -> None:
    assert run(dirs) == 0
    assert (dirs["k8s"] / "mesh" / "authorization-policy-todos.yaml").is_file()
    assert (dirs["k8s"] / "mesh-jwt" / "request-authentication-todos.yaml").is_file()
    assert (dirs["netpol"] / "default-deny.yaml").is_file()
    assert (dirs["run"] / "envoy" / "todos-inbound.yaml").is_file()
    assert (dirs["run"] / "pki" / "todos.key").is_file()
    assert (dirs["run"] / "sockets").is_dir()
    assert stat.S_IMODE((dirs["run"] / "sockets").stat().st_mode) == 0o700
    layout = json.loads((dirs["run"] / "layout.json").read_text())
    assert layout["ingress"] == {"gateway": 8080, "identity": 9000, "web": 8000}
    assert layout["outbound"]["reminders->todos"] == str(dirs["run"].absolute() / "sockets" / "reminders-to-todos.sock")
    assert "a new CA and 6 certificates" in capsys.readouterr().out


def test_k8s_only_and_local_only(dirs) -> None:
    assert run(dirs, "k8s") == 0
    assert dirs["k8s"].exists()
    assert not dirs["run"].exists()
    assert run(dirs, "local") == 0
    assert json.loads((dirs["run"] / "layout.json").read_text())["inbound"]["gateway"].endswith("/gateway-mtls.sock")


def test_local_narrows_a_wider_sockets_folder_and_clears_stale_sockets(dirs) -> None:
    sockets = dirs["run"] / "sockets"
    sockets.mkdir(parents=True, mode=0o777)
    sockets.chmod(0o777)
    (sockets / "todos-mtls.sock").write_text("left by a killed run")
    assert run(dirs, "local") == 0
    assert stat.S_IMODE(sockets.stat().st_mode) == 0o700
    assert not (sockets / "todos-mtls.sock").exists()


def test_check_passes_when_fresh_and_names_what_is_stale(dirs, capsys) -> None:
    assert run(dirs, "k8s") == 0
    assert run(dirs, "k8s", "--check") == 0
    target = dirs["k8s"] / "mesh" / "authorization-policy-todos.yaml"
    target.write_text(target.read_text().replace("/todos/due", "/todos/*"))
    (dirs["k8s"] / "mesh" / "extra.yaml").write_text("kind: AuthorizationPolicy\n")
    (dirs["k8s"] / "mesh-jwt" / "kustomization.yaml").unlink()
    (dirs["netpol"] / "todos.yaml").write_text("kind: NetworkPolicy\n")
    capsys.readouterr()
    assert run(dirs, "k8s", "--check") == 1
    err = capsys.readouterr().err
    assert f"{dirs['netpol'] / 'todos.yaml'}: differs from what the policy generates" in err
    assert f"{target}: differs from what the policy generates" in err
    assert "extra.yaml: not generated from the policy" in err
    assert "mesh-jwt/kustomization.yaml: missing" in err


def test_regenerating_removes_what_it_generated_and_keeps_the_readme(dirs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(netpol.PORTS, "extra", 8100)  # a NetworkPolicy needs the new workload's port
    assert run(dirs, "k8s") == 0
    (dirs["k8s"] / "mesh" / "README.md").write_text("hand-written")
    larger = tmp_path / "policy.yaml"
    larger.write_text(
        POLICY_FILE.read_text().replace(
            "workloads: [gateway, identity, todos, reminders, shares, web]",
            "workloads: [gateway, identity, todos, reminders, shares, web, extra]",
        )
    )
    assert run(dirs, "k8s", policy=larger) == 0
    assert (dirs["k8s"] / "mesh" / "authorization-policy-extra.yaml").exists()
    assert run(dirs, "k8s") == 0
    assert not (dirs["k8s"] / "mesh" / "authorization-policy-extra.yaml").exists()
    assert (dirs["k8s"] / "mesh" / "README.md").read_text() == "hand-written"


def test_a_bad_policy_is_reported_not_raised(dirs, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(POLICY_FILE.read_text().replace("from: [reminders]", "from: [remindrs]"))
    assert run(dirs, policy=bad) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"meshgen: {bad}: 1 problem(s)\n")
    assert "services.todos.allow.1.from: unknown caller 'remindrs'" in err
    assert not dirs["k8s"].exists()


def test_runs_as_a_module_from_the_repository_root(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshgen", "k8s", "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr

"""scripts/rename on a small tree of its own: every spelling, file names, the allowlist, binary files, bad
names, and a loud failure when a spelling it does not know is left behind. (The whole tree: test_fork.py.)"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.fork.test_fork import any_spelling, rename_script

script = rename_script()
OLD: str = script.CURRENT_NAME
OLD_WORDS = OLD.split("-")
NEW = "acme-task-list"


def spelled(words: list[str]) -> dict[str, str]:
    return {
        "kebab": "-".join(words),
        "snake": "_".join(words),
        "screaming": "_".join(words).upper(),
        "camel": "".join(w.capitalize() for w in words),
        "title": " ".join(w.capitalize() for w in words),
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    old = spelled(OLD_WORDS)
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "namespace.yaml").write_text(f"metadata:\n  name: {old['kebab']}\n")
    (tmp_path / "run.sh").write_text(f"export {old['screaming']}_PG_URL=x  # db {old['snake']}_e2e\n")
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "page.html").write_text(f"<title>{old['title']}</title><!-- {old['camel']}App -->\n")
    (tmp_path / f"{old['snake']}.toml").write_text("x = 1\n")
    (tmp_path / "CHANGELOG.md").write_text(f"forked from {old['kebab']}\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\0" + old["kebab"].encode())
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "site.pth").write_text(f"/somewhere/{old['kebab']}\n")
    return tmp_path


def test_every_spelling_and_file_name(tree: Path) -> None:
    assert script.main([NEW, "--root", str(tree)]) == 0
    new = spelled(NEW.split("-"))
    assert (tree / "k8s" / "namespace.yaml").read_text() == f"metadata:\n  name: {new['kebab']}\n"
    assert (tree / "run.sh").read_text() == f"export {new['screaming']}_PG_URL=x  # db {new['snake']}_e2e\n"
    assert stat.S_IMODE((tree / "run.sh").stat().st_mode) == 0o755
    assert (tree / "page.html").read_text() == f"<title>{new['title']}</title><!-- {new['camel']}App -->\n"
    assert (tree / f"{new['snake']}.toml").is_file()
    assert not list(tree.glob(f"{spelled(OLD_WORDS)['snake']}*"))


def test_the_allowlist_binaries_and_environments_keep_the_old_name(tree: Path) -> None:
    png = (tree / "logo.png").read_bytes()
    assert script.main([NEW, "--root", str(tree)]) == 0
    assert any_spelling(OLD).search((tree / "CHANGELOG.md").read_text())
    assert (tree / "logo.png").read_bytes() == png
    assert any_spelling(OLD).search((tree / ".venv" / "site.pth").read_text())


def test_a_dry_run_changes_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert script.main([NEW, "--root", str(tree), "--dry-run"]) == 0
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before
    assert "k8s/namespace.yaml" in capsys.readouterr().out


def test_a_spelling_it_does_not_know_fails_loudly(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = ".".join(OLD_WORDS).upper()  # dotted, upper case: no spelling the script rewrites
    (tree / "notes.txt").write_text(f"see {odd}\n")
    assert script.main([NEW, "--root", str(tree)]) == 1
    assert f"notes.txt:1: see {odd}" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Acme", "1acme", "acme_tasks", "acme--tasks", "acme-", "a" * 64, OLD, f"my-{OLD}"])
def test_bad_names_are_refused(tree: Path, name: str) -> None:
    with pytest.raises(SystemExit, match="rename: "):
        script.main([name, "--root", str(tree)])
    assert (tree / "k8s" / "namespace.yaml").read_text() == f"metadata:\n  name: {OLD}\n"

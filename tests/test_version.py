"""One version for the whole suite, so that labs and forks can pin it (CHANGELOG.md, CONTRIBUTING.md
"Releasing"): every workspace member's `pyproject.toml`, every image tag in `k8s/base` and the newest
version heading of CHANGELOG.md say the same; every member names its license."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: `## [0.2.0] - Unreleased` or `## [0.1.0] - 2026-11-25` (Keep a Changelog).
HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (Unreleased|\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def members() -> list[Path]:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    return sorted(p for pattern in patterns for p in ROOT.glob(f"{pattern}/pyproject.toml"))


def changelog_version() -> str:
    found = HEADING.findall((ROOT / "CHANGELOG.md").read_text())
    assert found, "CHANGELOG.md has no `## [X.Y.Z] - <date or Unreleased>` heading"
    return found[0][0]


def test_changelog_versions_go_down_and_only_the_newest_is_unreleased() -> None:
    found = HEADING.findall((ROOT / "CHANGELOG.md").read_text())
    versions = [tuple(int(n) for n in v.split(".")) for v, _ in found]
    assert versions == sorted(versions, reverse=True), versions
    assert len(set(versions)) == len(versions)
    assert all(date != "Unreleased" for _, date in found[1:])


def test_every_member_has_the_changelogs_version_and_the_license() -> None:
    assert len(members()) >= 9, members()
    version = changelog_version()
    for path in members():
        project = tomllib.loads(path.read_text())["project"]
        assert project["version"] == version, f"{path.relative_to(ROOT)}: {project['version']} != {version}"
        assert project.get("license") == "Apache-2.0", path.relative_to(ROOT)


def test_every_image_in_k8s_base_has_the_version() -> None:
    version = changelog_version()
    images = [
        value
        for path in sorted((ROOT / "k8s" / "base").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        for value in _images(document)
    ]
    ours = [image for image in images if image.split(":")[0].split("/")[-1] in _services()]
    assert ours, images
    assert {image.rsplit(":", 1)[1] for image in ours} == {version}, ours


def test_the_license_is_apache_2() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def _services() -> set[str]:
    return {path.parent.name for path in members() if path.parent.parent.name == "services"}


def _images(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [image for value in node.values() for image in _images(value)]
    if isinstance(node, list):
        return [image for value in node for image in _images(value)]
    return []

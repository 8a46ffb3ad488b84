"""Fixtures for the static Kubernetes checks: every overlay rendered once per session.

Layout:
    tools.py               finding or fetching kubectl (kustomize v5) and the pinned `uv tool run` tools
    manifests.py           reading rendered manifests (objects by kind, pod specs, env, secrets)
    test_dockerfile.py     the Dockerfile and .dockerignore (no Docker engine: parsed, hadolint, install replayed)
    test_kustomizations.py every kustomization.yaml: no deprecated fields, thin overlays
    test_overlays.py       the 10 rendered overlays: Kubernetes and Istio schemas, invariants, NetworkPolicies
    test_checkov.py        checkov over all of them in one run, with the skips and their reasons

Nothing here needs a cluster or Docker; what they would add is in docs/kubernetes.md.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s import tools

MODES = ("trust", "passthrough", "reissue", "extract", "phantom")
OVERLAYS = [f"{mode}{suffix}" for mode in MODES for suffix in ("", "/mesh")]


@dataclass
class Rendered:
    overlay: str
    mode: str
    mesh: bool
    text: str
    docs: list[dict[str, Any]]
    path: Path


@dataclass
class Renders:
    by_overlay: dict[str, Rendered]
    directory: Path
    checkov: subprocess.Popen[str] | None
    checkov_error: str | None


@pytest.fixture(scope="session")
def kubectl() -> str:
    try:
        return tools.kubectl()
    except tools.ToolUnavailable as e:
        pytest.skip(f"no kubectl with kustomize v5 and none could be fetched: {e}")


@pytest.fixture(scope="session")
def renders(kubectl: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Renders]:
    """All 10 overlays rendered, each also written to a file; checkov starts on that folder at once, in the
    background (it takes most of the run's time), and test_checkov.py waits for it."""
    directory = tmp_path_factory.mktemp("rendered")
    by_overlay = {}
    for overlay in OVERLAYS:
        text = tools.render(kubectl, tools.REPO / "k8s" / "overlays" / overlay)
        path = directory / (overlay.replace("/", "-") + ".yaml")
        path.write_text(text)
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
        mode = overlay.split("/")[0]
        by_overlay[overlay] = Rendered(overlay, mode, overlay.endswith("/mesh"), text, docs, path)
    checkov, error = None, None
    try:
        command, env = tools.uv_tool_command(
            tools.CHECKOV, "checkov", "-d", str(directory), "--framework", "kubernetes", "--skip-download",
            "--compact", "--quiet", "-o", "json",
        )  # fmt: skip
        checkov = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except tools.ToolUnavailable as e:
        error = str(e)
    yield Renders(by_overlay, directory, checkov, error)
    if checkov is not None and checkov.poll() is None:
        checkov.kill()
        checkov.communicate()


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, renders: Renders) -> Rendered:
    return renders.by_overlay[request.param]

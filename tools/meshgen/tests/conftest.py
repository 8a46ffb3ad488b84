"""Fixtures: the repository's policy, a small policy to build on, and `allows`, a reading of Envoy's RBAC
config (the subset meshgen emits) that lets a test ask "would this sidecar let X do Y?" without Envoy.
test_envoy_runtime.py checks that the real Envoy answers the same."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshgen.envoy import Layout, default_layout
from meshgen.policy import Policy, load_policy

REPO = Path(__file__).parents[3]
POLICY_FILE = REPO / "mesh" / "policy.yaml"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(POLICY_FILE)


def small_policy(services: dict[str, Any], workloads: tuple[str, ...] = ("a", "b", "c", "d")) -> Policy:
    """A policy over workloads a..d with the given `services` section."""
    return Policy.model_validate(
        {"namespace": "demo", "workloads": list(workloads), "probes": ["/healthz"], "services": services}
    )


@pytest.fixture
def layout(tmp_path: Path) -> Callable[[Policy], Layout]:
    return lambda p: default_layout(p, tmp_path / "mesh")


def envoy_binary() -> str | None:
    return shutil.which("envoy")


# --- a reading of the RBAC filter's config ---------------------------------------------------------------


def _template_regex(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.split("/"):
        parts.append({"*": "[^/]+", "**": ".*"}.get(segment, re.escape(segment)))
    return re.compile("/".join(parts))


def _permission(rule: dict[str, Any], method: str, path: str) -> bool:
    (kind, value), *_ = rule.items()
    path = path.split("?", 1)[0]
    match kind:
        case "any":
            return True
        case "and_rules":
            return all(_permission(r, method, path) for r in value["rules"])
        case "or_rules":
            return any(_permission(r, method, path) for r in value["rules"])
        case "header":
            assert value["name"] == ":method", value
            return method == value["string_match"]["exact"]
        case "url_path":
            matcher = value["path"]
            if "exact" in matcher:
                return path == matcher["exact"]
            return path.startswith(matcher["prefix"])
        case "uri_template":
            return _template_regex(value["typed_config"]["path_template"]).fullmatch(path) is not None
    raise AssertionError(f"meshgen emitted a permission this reading does not know: {kind}")


def _principal(rule: dict[str, Any], peer: str | None) -> bool:
    if rule.get("any"):
        return True
    return peer is not None and rule["authenticated"]["principal_name"]["exact"] == peer


def rbac_allows(rbac_filter: dict[str, Any], peer: str | None, method: str, path: str) -> bool:
    rules = rbac_filter["typed_config"]["rules"]
    assert rules["action"] == "ALLOW"
    return any(
        any(_permission(p, method, path) for p in policy["permissions"])
        and any(_principal(p, peer) for p in policy["principals"])
        for policy in rules["policies"].values()
    )


def http_filters(config: dict[str, Any], listener: str) -> list[dict[str, Any]]:
    found = next(item for item in config["static_resources"]["listeners"] if item["name"] == listener)
    return found["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]


def rbac_of(config: dict[str, Any], listener: str) -> dict[str, Any]:
    filters = http_filters(config, listener)
    assert [f["name"] for f in filters] == ["envoy.filters.http.rbac", "envoy.filters.http.router"]
    return filters[0]


# Tests reach the helpers above through fixtures: with --import-mode=importlib a conftest is no module to import.
@pytest.fixture
def small() -> Callable[..., Policy]:
    return small_policy


@pytest.fixture
def allows() -> Callable[[dict[str, Any], str | None, str, str], bool]:
    return rbac_allows


@pytest.fixture
def rbac() -> Callable[[dict[str, Any], str], dict[str, Any]]:
    return rbac_of

"""The services registry: `services.yaml` at the repository root, read the one way every Python reader does.

The Tiltfile reads the same file with Tilt's `read_yaml`; the Dockerfile needs no copy of it (uv.lock tells
it which members to copy), and tests/test_services_registry.py keeps `members` equal to what uv.lock says.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: At the repository root: devstack is a development tool, installed editable from the checkout it runs.
DEFAULT_REGISTRY = Path(__file__).resolve().parents[4] / "services.yaml"


@dataclass(frozen=True)
class Service:
    """One entry of services.yaml (its header says what each field means)."""

    name: str
    port: int
    database: bool
    api: bool
    label: str
    waits_for: tuple[str, ...]
    members: tuple[str, ...]

    @property
    def folder(self) -> str:
        return f"services/{self.name}"


@functools.cache
def load_services(path: Path = DEFAULT_REGISTRY) -> dict[str, Service]:
    """The services in the registry's order, keyed by name; a missing or misspelt field fails loudly."""
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    services = {}
    for name, entry in document["services"].items():
        unknown = set(entry) - {"port", "database", "api", "label", "waits_for", "members"}
        if unknown:
            raise ValueError(f"{path}: {name}: unknown field(s) {sorted(unknown)}")
        services[name] = Service(
            name=name,
            port=int(entry["port"]),
            database=bool(entry["database"]),
            api=bool(entry["api"]),
            label=str(entry["label"]),
            waits_for=tuple(entry["waits_for"]),
            members=tuple(entry["members"]),
        )
    return services

"""The boundary modes as data, for what cannot import Python: the Tiltfile, the Kustomize checks, the docs.

    uv run --no-sync python -m devstack.modes_data > k8s/components/modes/modes.json   (`make docs`)

Generated from the two registries (`authz.modes`, `gateway.modes`); tests/test_modes_data.py fails when the
committed file is stale, as meshgen's committed output is checked.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from authz import Mode
from authz.modes import service_mode
from devstack.suite import DEFAULT_MODE
from gateway.modes import gateway_mode

#: Where the data file lives (the Tiltfile reads it there).
DATA_FILE = Path("k8s/components/modes/modes.json")


def _module_path(obj: object) -> str:
    """The repository path of the module that defines `obj` (…/libs/authz/src/authz/modes/trust.py)."""
    path = Path(inspect.getfile(obj)).resolve()  # type: ignore[arg-type]
    for root in ("libs", "services"):
        if root in path.parts:
            return Path(*path.parts[path.parts.index(root) :]).as_posix()
    raise ValueError(f"{path} is not in the repository's libs/ or services/")


def modes_data() -> dict[str, Any]:
    modes: dict[str, Any] = {}
    for mode in Mode:
        service, edge = service_mode(mode), gateway_mode(mode)
        modes[mode.value] = {
            "gateway": {
                "module": _module_path(edge.build),
                "does": edge.summary,
                "settings": list(edge.settings),
                "issues_tokens": edge.issues_tokens,
                "opaque_edge_tokens": edge.opaque_edge_tokens,
            },
            "service": {
                "module": _module_path(service.build),
                "sees": service.summary,
                "settings": list(service.settings),
                "unsafe_without_mesh": service.unsafe_without_mesh,
                "trusted_subsystem": service.trusted_subsystem,
            },
        }
    return {
        "_generated": "by `make docs` (python -m devstack.modes_data) from authz.modes and gateway.modes",
        "default": DEFAULT_MODE,
        "modes": modes,
    }


def render() -> str:
    return json.dumps(modes_data(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")

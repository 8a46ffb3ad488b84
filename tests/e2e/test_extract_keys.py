"""An `extract` key that is empty, whitespace or shorter than 32 bytes stops a service and the gateway at
start-up, with a message naming the setting; so does one key given to two services. Real processes, as
`make up` starts them (uvicorn with the app factory), with nothing else running: the check comes first."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from devstack.ports import free_ports
from devstack.suite import uvicorn_cmd

GOOD = {"todos": "t" * 32, "shares": "s" * 32, "reminders": "r" * 32}


def _start(app: str, env: dict[str, str]) -> tuple[int, str]:
    (port,) = free_ports(1)
    cmd = uvicorn_cmd(app, port)
    base = {
        "PATH": "/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "AUTHZ_MODE": "extract",
        "AUTHZ_ISSUER": "http://127.0.0.1:9",
    }
    done = subprocess.run(cmd, env=base | env, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("key", ["", "   ", "too-short-for-hmac-sha256"])
def test_a_service_with_a_weak_key_does_not_start(tmp_path: Path, key: str) -> None:
    code, output = _start("todos.app:create_app", {
        "AUTHZ_EXTRACT_KEY": key, "TODOS_ENV": "dev", "TODOS_DATABASE_URL": f"sqlite:///{tmp_path / 'todos.db'}",
    })  # fmt: skip
    assert code != 0
    assert "AUTHZ_EXTRACT_KEY is" in output, output[-2000:]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (GOOD | {"shares": ""}, "GATEWAY_EXTRACT_KEYS[shares] is empty"),
        (GOOD | {"todos": "short"}, "GATEWAY_EXTRACT_KEYS[todos] is 5 bytes long"),
        (GOOD | {"reminders": GOOD["todos"]}, "GATEWAY_EXTRACT_KEYS gives todos and reminders the same key"),
    ],
)
def test_the_gateway_with_a_weak_or_shared_key_does_not_start(keys: dict[str, str], message: str) -> None:
    # GATEWAY_ENV=dev: outside it an empty key is already refused as a missing secret (authz.environment);
    # this is the mode's own check, which holds in every environment.
    code, output = _start("gateway.app:create_app", {
        "GATEWAY_EXTRACT_KEYS": json.dumps(keys), "GATEWAY_EDGE_CLIENTS": '["todo-cli"]', "GATEWAY_ENV": "dev",
    })  # fmt: skip
    assert code != 0
    assert message in output, output[-2000:]

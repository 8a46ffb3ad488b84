"""The web client's URIs at identity follow the run's port: exact matching, never "any port"."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.suite import SuiteConfig, generate_secrets, service_specs


def _identity_env(config: SuiteConfig) -> dict[str, str]:
    return next(s.env for s in service_specs(config, generate_secrets()) if s.name == "identity")


def test_default_port(tmp_path: Path) -> None:
    uris = json.loads(_identity_env(SuiteConfig(run_dir=tmp_path))["IDENTITY_CLIENT_URIS"])
    assert uris == {
        "web": {
            "redirect_uris": ["http://127.0.0.1:8000/auth/callback"],
            "post_logout_redirect_uris": ["http://127.0.0.1:8000/"],
        }
    }


def test_the_runs_port(tmp_path: Path) -> None:
    config = SuiteConfig(run_dir=tmp_path)
    config.ports["web"] = 18123
    env = _identity_env(config)
    uris = json.loads(env["IDENTITY_CLIENT_URIS"])
    assert uris["web"]["redirect_uris"] == ["http://127.0.0.1:18123/auth/callback"]
    assert uris["web"]["post_logout_redirect_uris"] == ["http://127.0.0.1:18123/"]
    assert env["IDENTITY_CLIENT_SECRET_WEB"]

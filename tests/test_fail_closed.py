"""Every service fails closed on its `env` setting: outside `env=dev` (the default is `prod`) it refuses to
start with the development secrets this repository publishes (k8s/**/dev-secrets/*.env carry
`DEV_SECRET_MARKER`), and identity refuses its demo realm and the password grant.

Each case builds the service's real `Settings` twice with the same values: in `dev` it is accepted, in
`prod` it is refused naming the variable, so the refusal is about the environment and not the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from authz import AuthzSettings
from authz.environment import DEV_SECRET_MARKER

DEV = f"{DEV_SECRET_MARKER}-test"
DEV_DB = f"postgresql://svc:{DEV}@postgres:5432/svc"
REAL = "a-real-secret-from-a-secret-manager"


def _todos(env: str, **values: Any) -> Any:
    from todos.settings import Settings

    return Settings(env=env, **values)


def _reminders(env: str, **values: Any) -> Any:
    from reminders.settings import Settings

    return Settings(env=env, **({"client_secret": REAL} | values))


def _shares(env: str, **values: Any) -> Any:
    from shares.settings import Settings

    return Settings(env=env, **({"client_secret": REAL} | values))


def _gateway(env: str, **values: Any) -> Any:
    from gateway.settings import Settings

    return Settings(env=env, **values)


def _web(env: str, **values: Any) -> Any:
    from web.settings import Settings

    return Settings(env=env, **({"client_secret": REAL} | values))


def _identity(env: str, **values: Any) -> Any:
    from identity.settings import Settings

    return Settings(env=env, **values)


def _extract(key: str) -> AuthzSettings:
    return AuthzSettings(extract_key=SecretStr(key))


#: (service, how to build its settings, a development value, the variable the refusal names).
CASES: list[tuple[str, Callable[..., Any], dict[str, Any], str]] = [
    ("todos", _todos, {"database_url": DEV_DB}, "TODOS_DATABASE_URL"),
    ("todos", _todos, {"authz": _extract(DEV)}, "AUTHZ_EXTRACT_KEY"),
    ("reminders", _reminders, {"client_secret": DEV}, "REMINDERS_CLIENT_SECRET"),
    ("reminders", _reminders, {"database_url": DEV_DB}, "REMINDERS_DATABASE_URL"),
    ("reminders", _reminders, {"authz": _extract(DEV)}, "AUTHZ_EXTRACT_KEY"),
    ("shares", _shares, {"client_secret": DEV}, "SHARES_CLIENT_SECRET"),
    ("shares", _shares, {"database_url": DEV_DB}, "SHARES_DATABASE_URL"),
    ("shares", _shares, {"authz": _extract(DEV)}, "AUTHZ_EXTRACT_KEY"),
    ("gateway", _gateway, {"client_secret": DEV}, "GATEWAY_CLIENT_SECRET"),
    ("gateway", _gateway, {"signing_key": DEV}, "GATEWAY_SIGNING_KEY"),
    ("gateway", _gateway, {"extract_keys": {"todos": REAL, "shares": DEV}}, "GATEWAY_EXTRACT_KEYS[shares]"),
    ("web", _web, {"client_secret": DEV}, "WEB_CLIENT_SECRET"),
    ("web", _web, {"database_url": DEV_DB}, "WEB_DATABASE_URL"),
    ("identity", _identity, {"allow_password_grant": True, "realm_file": Path("realm.toml")}, "PASSWORD_GRANT"),
    ("identity", _identity, {}, "demo realm"),
    ("identity", _identity, {"database_url": DEV_DB, "realm_file": Path("realm.toml")}, "IDENTITY_DATABASE_URL"),
]


def test_identity_refuses_a_published_client_secret_outside_dev(tmp_path: Path) -> None:
    from identity.realm import load_realm, refuse_development_client_secrets

    realm_file = tmp_path / "realm.toml"
    realm_file.write_text(
        'name = "r"\n[[clients]]\nclient_id = "gateway"\nsecret_env = "GW_SECRET"\n'
        'grant_types = ["client_credentials"]\n'
    )
    realm = load_realm(realm_file, environ={"GW_SECRET": DEV})
    refuse_development_client_secrets(realm, "dev")  # accepted where it belongs

    with pytest.raises(ValueError, match="the client secret of gateway"):
        refuse_development_client_secrets(realm, "prod")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a developer's shell (or `make up`) may have set must not decide these cases.
    for name in list(os.environ):
        if name.split("_", 1)[0] in {"TODOS", "REMINDERS", "SHARES", "GATEWAY", "IDENTITY", "AUTHZ", "WEB"}:
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("service", "build", "values", "named"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_development_secrets_are_refused_outside_dev(
    service: str, build: Callable[..., Any], values: dict[str, Any], named: str
) -> None:
    build("dev", **values)  # accepted where they belong

    with pytest.raises(ValidationError, match=named.replace("[", r"\[").replace("]", r"\]")):
        build("prod", **values)


@pytest.mark.parametrize("service", ["todos", "reminders", "shares", "gateway", "web"])
def test_real_secrets_start_outside_dev(service: str) -> None:
    build = {"todos": _todos, "reminders": _reminders, "shares": _shares, "gateway": _gateway, "web": _web}[service]
    values: dict[str, Any] = {"database_url": "postgresql://svc:" + REAL + "@postgres:5432/svc"}
    if service == "gateway":
        values = {"client_secret": REAL, "signing_key": REAL, "extract_keys": {"todos": REAL}}

    settings = build("prod", **values)

    assert settings.env == "prod"


@pytest.mark.parametrize("service", ["todos", "reminders", "shares", "gateway", "identity", "web"])
def test_env_defaults_to_prod(service: str) -> None:
    # Unset, a service is in production: development is what has to be said (`make up`, the dev overlays).
    settings_class = import_module(f"{service}.settings").Settings

    assert settings_class.model_fields["env"].default == "prod"

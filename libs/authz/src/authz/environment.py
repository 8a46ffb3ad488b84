"""Fail closed on the `env` setting: development secrets are refused outside `env=dev`.

Every service has an `env` setting (`TODOS_ENV`, ...), `prod` unless set. `make up` and the dev overlays of
`k8s/` set it to `dev`. The secrets committed to this public repository for development
(`k8s/base/dev-secrets/*.env`, `k8s/components/modes/extract/dev-secrets/*.env`) all carry
`DEV_SECRET_MARKER`; a service started with one of them, or with an empty one, outside `dev` refuses to
start, so a forker who deploys the overlays unchanged with `*_ENV=prod` finds out at once. (`make up`
generates fresh secrets per run and has no marker to find.) identity also refuses its demo realm and the
password grant outside `dev` (its own settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import SecretStr

#: `dev` allows development secrets and conveniences; anything else is treated as production.
Environment = Literal["dev", "prod"]

#: The marker in every development secret this repository publishes.
DEV_SECRET_MARKER = "dev-only-change-me"


def _value(secret: str | SecretStr) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def development_secrets(secrets: Mapping[str, str | SecretStr | None]) -> list[str]:
    """The names among `secrets` whose value is a published development secret (or empty)."""
    return sorted(
        name
        for name, secret in secrets.items()
        if secret is not None and (DEV_SECRET_MARKER in _value(secret) or not _value(secret).strip())
    )


def refuse_development_secrets(env: str, secrets: Mapping[str, str | SecretStr | None]) -> None:
    """Raise `ValueError` (a settings validation error) if `env` is not `dev` and a secret is a development one.

    `secrets` maps the setting's environment variable name to its value (None: not set). Call it from a
    `model_validator(mode="after")` of the service's settings, with every secret the service holds:
    client secrets, keys, and database URLs (they carry the database password).
    """
    if env == "dev":
        return
    found = development_secrets(secrets)
    if found:
        raise ValueError(
            f"development secrets outside env=dev: {', '.join(found)}. Set real secrets "
            "(a secret manager, not k8s/**/dev-secrets), or set the service's *_ENV=dev for a local run"
        )

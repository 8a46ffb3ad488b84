"""Settings: the secret has no default, the directory is found through identity unless set, bounds hold."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import authz
from reminders.settings import Settings


def test_client_secret_is_required(monkeypatch):
    monkeypatch.delenv("REMINDERS_CLIENT_SECRET", raising=False)

    with pytest.raises(ValidationError, match="client_secret"):
        Settings()


def test_client_secret_is_not_shown(monkeypatch):
    settings = Settings(client_secret="s3cr3t-value")

    assert "s3cr3t-value" not in repr(settings)


@pytest.mark.parametrize(
    ("identity_url", "directory_url", "expected"),
    [
        (None, None, "http://issuer.test/users"),
        ("http://identity.internal:9000/", None, "http://identity.internal:9000/users"),
        ("http://identity.internal:9000", "http://directory.test/people", "http://directory.test/people"),
    ],
)
def test_directory_url(identity_url, directory_url, expected):
    settings = Settings(
        client_secret="x",
        directory_url=directory_url,
        authz=authz.AuthzSettings(issuer="http://issuer.test/", identity_url=identity_url),
    )

    assert settings.directory_endpoint == expected


@pytest.mark.parametrize("window", [59, 7 * 86400 + 1])
def test_window_is_bounded(window):
    with pytest.raises(ValidationError, match="window_seconds"):
        Settings(client_secret="x", window_seconds=window)

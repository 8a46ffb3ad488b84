"""shares' settings: the client secret is required, and the directory is found where identity is."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from authz import AuthzSettings
from shares.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("SHARES_CLIENT_SECRET", "SHARES_DIRECTORY_URL", "AUTHZ_ISSUER", "AUTHZ_IDENTITY_URL"):
        monkeypatch.delenv(name, raising=False)


def test_client_secret_is_required():
    with pytest.raises(ValidationError) as excinfo:
        Settings()

    assert {error["loc"][0] for error in excinfo.value.errors()} == {"client_secret"}


@pytest.mark.parametrize("secret", ["", "   "])
def test_empty_client_secret_is_refused(secret):
    with pytest.raises(ValidationError, match="SHARES_CLIENT_SECRET is empty"):
        Settings(client_secret=secret)


def test_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHARES_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("SHARES_TODOS_URL", "http://todos.internal:8001")

    settings = Settings()

    assert settings.client_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.todos_url == "http://todos.internal:8001"
    assert (settings.client_id, settings.todos_audience, settings.identity_audience) == ("shares", "todos", "identity")
    assert settings.authz.audience == "shares"


def test_directory_defaults_to_the_issuer():
    settings = Settings(client_secret="x", authz=AuthzSettings(issuer="http://id.example/", audience="shares"))

    assert settings.directory_url is None
    assert settings.directory_endpoint == "http://id.example/users"


def test_directory_follows_the_internal_identity_url():
    authz = AuthzSettings(issuer="https://id.example", identity_url="http://identity.svc:9000/", audience="shares")

    assert Settings(client_secret="x", authz=authz).directory_endpoint == "http://identity.svc:9000/users"


def test_directory_url_set_explicitly():
    settings = Settings(client_secret="x", directory_url="http://directory.example/people")

    assert settings.directory_endpoint == "http://directory.example/people"

"""`AuthzSettings`: asymmetric algorithms only, the audience defaulting to the service's name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from authz import AuthzSettings, Mode


class TestAlgorithms:
    @pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["ES256", "HS256"], ["RS256", "none"], []])
    def test_symmetric_none_or_empty_is_refused(self, algorithms):
        with pytest.raises(ValidationError, match="asymmetric"):
            AuthzSettings(algorithms=algorithms)

    @pytest.mark.parametrize("value", ['["HS256"]', '["none"]', '["ES256","HS512"]'])
    def test_refused_from_the_environment_too(self, monkeypatch, value):
        monkeypatch.setenv("AUTHZ_ALGORITHMS", value)

        with pytest.raises(ValidationError):
            AuthzSettings.for_service("todos")

    def test_asymmetric_algorithms_are_kept(self, monkeypatch):
        monkeypatch.setenv("AUTHZ_ALGORITHMS", '["PS256","ES384"]')

        assert AuthzSettings.for_service("todos").algorithms == ["PS256", "ES384"]

    def test_default_is_es256_and_rs256(self):
        assert AuthzSettings().algorithms == ["ES256", "RS256"]


class TestAudience:
    def test_defaults_to_the_service_name(self):
        assert AuthzSettings.for_service("todos").audience == "todos"

    def test_environment_wins_over_the_service_name(self, monkeypatch):
        monkeypatch.setenv("AUTHZ_AUDIENCE", "https://api.todo-suite.test/todos")

        assert AuthzSettings.for_service("todos").audience == "https://api.todo-suite.test/todos"

    def test_explicit_override_wins(self):
        assert AuthzSettings.for_service("todos", audience="todos-v2").audience == "todos-v2"

    def test_plain_settings_have_no_audience(self):
        assert AuthzSettings().audience is None


class TestOtherSettings:
    def test_discovery_comes_from_identity_url_when_set(self, monkeypatch):
        monkeypatch.setenv("AUTHZ_ISSUER", "https://login.todo-suite.test")
        monkeypatch.setenv("AUTHZ_IDENTITY_URL", "http://identity.cluster.local:9000/")
        settings = AuthzSettings.for_service("todos")

        assert settings.issuer == "https://login.todo-suite.test"
        assert settings.discovery_url == "http://identity.cluster.local:9000/.well-known/openid-configuration"

    def test_discovery_defaults_to_the_issuer(self):
        settings = AuthzSettings(issuer="https://login.todo-suite.test/")

        assert settings.discovery_url == "https://login.todo-suite.test/.well-known/openid-configuration"

    def test_mode_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("AUTHZ_MODE", "reissue")

        assert AuthzSettings.for_service("todos").mode is Mode.REISSUE

    @pytest.mark.parametrize("leeway", [-1, 121])
    def test_leeway_is_bounded(self, leeway):
        with pytest.raises(ValidationError):
            AuthzSettings(leeway_seconds=leeway)

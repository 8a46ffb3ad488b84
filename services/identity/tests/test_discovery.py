"""OIDC discovery, RFC 8414 metadata, the JWKS and the health probes."""

from __future__ import annotations

import jwt
import pytest

METADATA_PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
ENDPOINTS = {
    "token_endpoint": "/token",
    "jwks_uri": "/jwks",
    "introspection_endpoint": "/introspect",
    "revocation_endpoint": "/revoke",
    "userinfo_endpoint": "/userinfo",
}
#: Private members of EC and RSA JWKs (RFC 7518 section 6): none may ever be published.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class TestMetadata:
    @pytest.mark.parametrize("path", METADATA_PATHS)
    def test_issuer_is_the_setting(self, client, settings, path):
        response = client.get(path)

        assert response.status_code == 200
        assert response.json()["issuer"] == settings.issuer

    @pytest.mark.parametrize("path", METADATA_PATHS)
    def test_endpoints_are_under_the_issuer(self, client, settings, path):
        body = client.get(path).json()

        assert {name: body[name] for name in ENDPOINTS} == {
            name: f"{settings.issuer}{suffix}" for name, suffix in ENDPOINTS.items()
        }

    def test_both_documents_are_the_same(self, client):
        oidc, rfc8414 = (client.get(path).json() for path in METADATA_PATHS)

        assert oidc == rfc8414

    @pytest.mark.parametrize("path", METADATA_PATHS)
    def test_password_grant_advertised_when_allowed(self, client, path):
        grants = client.get(path).json()["grant_types_supported"]

        assert "password" in grants
        assert "client_credentials" in grants

    @pytest.mark.parametrize("path", METADATA_PATHS)
    def test_password_grant_not_advertised_when_off(self, make_client, make_settings, path):
        with make_client(make_settings(allow_password_grant=False)) as client:
            grants = client.get(path).json()["grant_types_supported"]

        assert "password" not in grants
        assert "client_credentials" in grants

    def test_trailing_slash_issuer_gives_no_double_slash(self, make_client, make_settings):
        with make_client(make_settings(issuer="http://identity.test/")) as client:
            body = client.get(METADATA_PATHS[0]).json()

        assert body["issuer"] == "http://identity.test/"
        assert body["token_endpoint"] == "http://identity.test/token"

    def test_advertised_endpoints_are_served(self, client, settings):
        body = client.get(METADATA_PATHS[0]).json()
        paths = {name: body[name].removeprefix(settings.issuer) for name in ENDPOINTS}

        assert client.get(paths["jwks_uri"]).status_code == 200
        # Each protocol endpoint answers its own error, not 404/405: it exists with the right method.
        assert client.post(paths["token_endpoint"], data={}).json()["error"] == "invalid_request"
        assert client.post(paths["introspection_endpoint"], data={"token": "x"}).json()["error"] == "invalid_client"
        assert client.post(paths["revocation_endpoint"], data={"token": "x"}).json()["error"] == "invalid_client"
        assert client.get(paths["userinfo_endpoint"]).status_code == 401

    def test_scopes_supported_are_the_realms_api_scopes(self, client):
        scopes = client.get(METADATA_PATHS[0]).json()["scopes_supported"]

        assert {"todos:read", "todos:due:read", "shares:write", "reminders:run", "users:read"} <= set(scopes)
        assert scopes == sorted(scopes)


class TestJwks:
    def test_keys_are_public_es256_signing_keys(self, client):
        keys = client.get("/jwks").json()["keys"]

        assert len(keys) == 1
        for key in keys:
            assert key["kid"]
            assert key["alg"] == "ES256"
            assert key["use"] == "sig"
            assert key["kty"] == "EC"
            assert key["crv"] == "P-256"
            assert not PRIVATE_MEMBERS & set(key)

    def test_pyjwt_parses_the_key_set(self, client):
        body = client.get("/jwks").json()

        key_set = jwt.PyJWKSet.from_dict(body)

        assert [k.key_id for k in key_set.keys] == [k["kid"] for k in body["keys"]]

    def test_rs256_keys_have_no_private_members(self, make_client, make_settings):
        with make_client(make_settings(signing_alg="RS256")) as client:
            keys = client.get("/jwks").json()["keys"]

        assert [(k["alg"], k["kty"], k["use"]) for k in keys] == [("RS256", "RSA", "sig")]
        assert not PRIVATE_MEMBERS & set(keys[0])

    def test_the_key_survives_a_restart(self, make_client, settings):
        with make_client(settings) as client:
            before = client.get("/jwks").json()
        with make_client(settings) as client:
            after = client.get("/jwks").json()

        assert after == before


class TestHealth:
    def test_healthz(self, client):
        response = client.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz(self, client):
        response = client.get("/readyz")

        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

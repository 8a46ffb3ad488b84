"""OIDC discovery, RFC 8414 metadata and the JWKS: everything a client needs from the issuer URL alone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from identity.deps import RealmDep, RingDep, SettingsDep
from identity.realm import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
)

router = APIRouter(tags=["discovery"])


def metadata(settings, realm) -> dict[str, Any]:
    base = settings.issuer.rstrip("/")
    grants = [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE]
    if settings.allow_password_grant:
        grants.append(GRANT_PASSWORD)
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/jwks",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/revoke",
        "userinfo_endpoint": f"{base}/userinfo",
        # OIDC RP-Initiated Logout 1.0.
        "end_session_endpoint": f"{base}/logout",
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": sorted(realm.scopes_for(tuple(realm.api_scopes)) | {"openid"}),
        # The code flow only: no implicit or hybrid flow puts a token in a URL (RFC 9700 section 2.1.2).
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        # PKCE with S256 only: `plain` is refused (RFC 9700 section 2.1.1).
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["login", "none"],
        # RFC 9207: the authorization response names its issuer (`iss`), against mix-up attacks.
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [settings.signing_alg],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
            "roles",
            "preferred_username",
            "email",
            "act",
            "auth_time",
            "nonce",
            "sid",
            "azp",
            "at_hash",
        ],
        # Not a standard field: where services holding `users:read` look users up (docs/identity.md).
        "todo_suite_user_directory_endpoint": f"{base}/users",
    }


@router.get("/.well-known/openid-configuration")
def openid_configuration(settings: SettingsDep, realm: RealmDep) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 metadata."""
    return metadata(settings, realm)


@router.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server(settings: SettingsDep, realm: RealmDep) -> dict[str, Any]:
    """RFC 8414 authorization server metadata (the same document)."""
    return metadata(settings, realm)


@router.get("/jwks")
async def jwks(ring: RingDep) -> dict[str, Any]:
    """The public keys: pending (published before they sign), active, and retiring ones.

    `async`: it only reads the parsed keys in memory, so it needs no worker thread and is answered
    straight from the event loop — however busy the password pool is.
    """
    return ring.jwks()

"""The token endpoint (RFC 6749 section 3.2): one POST, one handler per grant type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from identity.deps import RealmDep, SettingsDep, TokensDep
from identity.oauth import NO_STORE, OAuthError, authenticate_client, read_form
from identity.realm import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, Client, Realm
from identity.settings import Settings
from identity.tokens import TokenService

router = APIRouter(tags=["oauth"])


def requested_audiences(request: Request, client: Client) -> tuple[str, ...]:
    """The audiences asked for (`audience` of RFC 8693 or `resource` of RFC 8707), else all the client's."""
    lists = request.state.form_lists
    asked = [a for a in lists["audience"] + lists["resource"] if a]
    if not asked:
        if not client.audiences:
            raise OAuthError("invalid_target", "this client may not get tokens for any audience")
        return client.audiences
    refused = [a for a in asked if a not in client.audiences]
    if refused:
        raise OAuthError("invalid_target", f"this client may not get tokens for {', '.join(refused)}")
    return tuple(dict.fromkeys(asked))


def granted_scopes(form: dict[str, str], client: Client, realm: Realm, audiences: tuple[str, ...]) -> frozenset[str]:
    """Requested scopes narrowed to what the client may have and the audiences understand (RFC 6749 section 3.3)."""
    allowed = client.scopes & realm.scopes_for(audiences)
    if "scope" not in form:
        return allowed
    asked = frozenset(form["scope"].split())
    if not asked <= allowed:
        raise OAuthError("invalid_scope", f"not allowed here: {' '.join(sorted(asked - allowed))}")
    return asked


def token_response(token: str, claims: dict[str, Any], **extra: Any) -> JSONResponse:
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "scope": claims["scope"],
        **extra,
    }
    return JSONResponse(body, headers=NO_STORE)


def _client_credentials(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    if client.public:
        raise OAuthError("unauthorized_client", "a public client cannot use client_credentials")
    audiences = requested_audiences(request, client)
    scopes = granted_scopes(form, client, realm, audiences)
    token, claims = tokens.issue(client=client, grant=GRANT_CLIENT_CREDENTIALS, audiences=audiences, scopes=scopes)
    return token_response(token, claims)


def _password(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    username, password = form.get("username"), form.get("password")
    if not username or password is None:
        raise OAuthError("invalid_request", "username and password are required")
    user = realm.authenticate_user(username, password)
    if user is None:
        raise OAuthError("invalid_grant", "invalid username or password")
    audiences = requested_audiences(request, client)
    scopes = granted_scopes(form, client, realm, audiences)
    token, claims = tokens.issue(client=client, grant=GRANT_PASSWORD, audiences=audiences, scopes=scopes, user=user)
    return token_response(token, claims)


Grant = Callable[[Request, dict[str, str], Client, Realm, TokenService, Settings], JSONResponse]
GRANTS: dict[str, Grant] = {
    GRANT_CLIENT_CREDENTIALS: _client_credentials,
    GRANT_PASSWORD: _password,
}


@router.post("/token")
async def token(request: Request, realm: RealmDep, tokens: TokensDep, settings: SettingsDep) -> JSONResponse:
    """Issue an access token for one of the supported grants."""
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    grant = GRANTS.get(grant_type)
    if grant is None or (grant_type == GRANT_PASSWORD and not settings.allow_password_grant):
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported here")
    client = authenticate_client(request, form, realm, allow_public=True)
    if grant_type not in client.grant_types:
        raise OAuthError("unauthorized_client", f"client {client.client_id!r} may not use {grant_type}")
    return grant(request, form, client, realm, tokens, settings)

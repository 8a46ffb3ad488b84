"""The token endpoint (RFC 6749 section 3.2): one POST, one handler per grant type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from identity.deps import RealmDep, SettingsDep, TokensDep, phantoms_of
from identity.oauth import NO_STORE, OAuthError, authenticate_client, read_form
from identity.realm import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, Client, Realm
from identity.settings import Settings
from identity.throttle import client_address
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


async def client_token_response(request: Request, client: Client, token: str, claims: dict[str, Any]) -> JSONResponse:
    """The answer to a client that presents the token itself: an opaque handle instead of the JWT if the
    realm (or IDENTITY_OPAQUE_TOKEN_CLIENTS) says so — the phantom token, see identity.phantom."""
    if client.opaque_access_tokens:
        token = await phantoms_of(request).wrap_in_thread(token, claims)
    return token_response(token, claims)


#: OpenID Connect's scope: asked for at a login, it adds the UserInfo audience (Settings.userinfo_audience).
OPENID = "openid"


def _wants_openid(form: dict[str, str], client: Client) -> bool:
    """Was `openid` asked for? Then take it out of `form["scope"]` (no API understands it) and check the
    client may ask for it."""
    if "scope" not in form:
        return False
    asked = form["scope"].split()
    if OPENID not in asked:
        return False
    if OPENID not in client.scopes:
        raise OAuthError("invalid_scope", f"not allowed here: {OPENID}")
    form["scope"] = " ".join(s for s in asked if s != OPENID)
    return True


async def _client_credentials(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    if client.public:
        raise OAuthError("unauthorized_client", "a public client cannot use client_credentials")
    audiences = requested_audiences(request, client)
    scopes = granted_scopes(form, client, realm, audiences)
    token, claims = tokens.issue(client=client, grant=GRANT_CLIENT_CREDENTIALS, audiences=audiences, scopes=scopes)
    return await client_token_response(request, client, token, claims)


async def _password(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    username, password = form.get("username"), form.get("password")
    if not username or password is None:
        raise OAuthError("invalid_request", "username and password are required")
    # Checked before the password, so a refused request is no more work than a malformed one.
    openid = _wants_openid(form, client)
    audiences = requested_audiences(request, client)
    scopes = granted_scopes(form, client, realm, audiences)
    state = request.state
    attempt = state.login_throttle.begin(username, client_address(request, settings))
    user = await state.passwords.authenticate(realm, username, password)
    if user is None:
        raise OAuthError("invalid_grant", "invalid username or password")
    attempt.succeeded()
    if openid:
        # OIDC: `openid` makes this a token for the UserInfo endpoint too (its audience), and only a
        # user's own token from a login ever carries it — never a client's, never a delegated one.
        audiences, scopes = (*audiences, settings.userinfo_audience), scopes | {OPENID}
    token, claims = tokens.issue(client=client, grant=GRANT_PASSWORD, audiences=audiences, scopes=scopes, user=user)
    return await client_token_response(request, client, token, claims)


#: RFC 8693 section 3: the token types this server accepts as subject tokens and issues.
TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
_EXCHANGEABLE = (TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT)


async def _token_exchange(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    """RFC 8693 delegation: a token for one audience, `sub` the user, `act.sub` the requesting client.

    Any problem with the subject token — invalid, expired, revoked, not meant for this client, without
    a user — is `invalid_request`, as RFC 8693 section 2.2.2 requires (not `invalid_grant`).
    """
    if client.public:
        raise OAuthError("unauthorized_client", "a public client cannot exchange tokens")
    subject_token, subject_type = form.get("subject_token"), form.get("subject_token_type")
    if not subject_token or not subject_type:
        raise OAuthError("invalid_request", "subject_token and subject_token_type are required")
    if subject_type not in _EXCHANGEABLE:
        raise OAuthError("invalid_request", f"subject_token_type {subject_type!r} is not supported")
    if form.get("requested_token_type", TOKEN_TYPE_ACCESS_TOKEN) not in _EXCHANGEABLE:
        raise OAuthError("invalid_request", "only access tokens can be requested")
    if "actor_token" in form:
        raise OAuthError("invalid_request", "actor_token is not supported: the authenticated client is the actor")
    subject = await request.state.subject_tokens.active_claims(subject_token)
    if subject is None:
        raise OAuthError("invalid_request", "the subject_token is not an active token of an issuer trusted here")
    subject_aud = subject["aud"] if isinstance(subject["aud"], list) else [subject["aud"]]
    if client.client_id not in subject_aud:
        raise OAuthError("invalid_request", f"the subject_token is not meant for {client.client_id!r}")
    user = realm.users_by_id.get(subject["sub"])
    if user is None:
        raise OAuthError("invalid_request", "the subject_token has no user to act for")
    if not any(request.state.form_lists["audience"] + request.state.form_lists["resource"]):
        raise OAuthError("invalid_request", "name the one audience the token is for")
    audiences = requested_audiences(request, client)
    if len(audiences) != 1:
        raise OAuthError("invalid_target", "a delegated token is for exactly one audience")
    subject_scopes = frozenset(str(subject.get("scope", "")).split())
    scopes = granted_scopes(form, client, realm, audiences)
    if "scope" not in form:
        # No scope asked for: everything the client may have here that the subject token also has.
        scopes &= subject_scopes
        if not scopes:
            raise OAuthError("invalid_scope", "the subject token has none of the scopes this client may have here")
    beyond = scopes - subject_scopes
    if beyond:
        raise OAuthError(
            "invalid_scope", f"can only narrow the subject token's scopes, not add {' '.join(sorted(beyond))}"
        )
    act: dict[str, object] = {"sub": client.client_id}
    if isinstance(subject.get("act"), dict):
        act["act"] = subject["act"]  # RFC 8693 section 4.1: the prior actor chain nests inside
    lifetime = max(1, min(settings.exchanged_token_lifetime_seconds, int(subject["exp"] - tokens.now())))
    token, claims = tokens.issue(
        client=client,
        grant=GRANT_TOKEN_EXCHANGE,
        audiences=audiences,
        scopes=scopes,
        user=user,
        lifetime=lifetime,
        extra={"act": act},
    )
    return token_response(token, claims, issued_token_type=TOKEN_TYPE_ACCESS_TOKEN)


Grant = Callable[[Request, dict[str, str], Client, Realm, TokenService, Settings], Awaitable[JSONResponse]]
GRANTS: dict[str, Grant] = {
    GRANT_CLIENT_CREDENTIALS: _client_credentials,
    GRANT_PASSWORD: _password,
    GRANT_TOKEN_EXCHANGE: _token_exchange,
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
    return await grant(request, form, client, realm, tokens, settings)

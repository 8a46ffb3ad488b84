"""The token endpoint (RFC 6749 section 3.2): one POST, one handler per grant type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from identity import telemetry
from identity.authorization import verifier_matches
from identity.deps import RealmDep, SettingsDep, TokensDep, phantoms_of
from identity.oauth import NO_STORE, OAuthError, OAuthForm, authenticate_client, read_form
from identity.realm import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    Client,
    Realm,
    User,
)
from identity.settings import Settings
from identity.signin import Issued, Redemption, Rotation, SignInStore, new_id
from identity.throttle import client_address
from identity.tokens import TokenService

router = APIRouter(tags=["oauth"])


def requested_audiences(form: OAuthForm, client: Client) -> tuple[str, ...]:
    """The audiences asked for (`audience` of RFC 8693 or `resource` of RFC 8707), else all the client's."""
    asked = [a for a in form.targets if a]
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
    telemetry.record_issued(claims)
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
    request: Request, form: OAuthForm, client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    if client.public:
        raise OAuthError("unauthorized_client", "a public client cannot use client_credentials")
    audiences = requested_audiences(form, client)
    scopes = granted_scopes(form, client, realm, audiences)
    token, claims = tokens.issue(client=client, grant=GRANT_CLIENT_CREDENTIALS, audiences=audiences, scopes=scopes)
    return await client_token_response(request, client, token, claims)


async def _password(
    request: Request, form: OAuthForm, client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    username, password = form.get("username"), form.get("password")
    if not username or password is None:
        raise OAuthError("invalid_request", "username and password are required")
    # Checked before the password, so a refused request is no more work than a malformed one.
    openid = _wants_openid(form, client)
    audiences = requested_audiences(form, client)
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
    request: Request, form: OAuthForm, client: Client, realm: Realm, tokens: TokenService, settings: Settings
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
    if not any(form.targets):
        raise OAuthError("invalid_request", "name the one audience the token is for")
    audiences = requested_audiences(form, client)
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


def _issued(tokens: TokenService) -> Issued:
    return Issued(access_jti=new_id(), access_expires_at=tokens.now() + tokens.lifetime, family_id=new_id())


async def _user_tokens(
    request: Request,
    *,
    client: Client,
    grant: str,
    user: User,
    scope: str,
    issued: Issued,
    tokens: TokenService,
    settings: Settings,
    refresh_token: str | None,
    id_token_claims: dict[str, Any] | None,
) -> JSONResponse:
    """The answer of the code and refresh grants: an access token (with the `jti` the store recorded), the
    refresh token, and with `openid` an ID token and the UserInfo audience."""
    scopes = frozenset(scope.split())
    audiences = client.audiences
    if OPENID in scopes:
        audiences = (*audiences, settings.userinfo_audience)
    token, claims = tokens.issue(
        client=client, grant=grant, audiences=audiences, scopes=scopes, user=user, extra={"jti": issued.access_jti}
    )
    if client.opaque_access_tokens:
        token = await phantoms_of(request).wrap_in_thread(token, claims)
    extra: dict[str, Any] = {}
    if refresh_token is not None:
        extra["refresh_token"] = refresh_token
    if OPENID in scopes and id_token_claims is not None:
        extra["id_token"] = tokens.id_token(
            client=client, user=user, lifetime=settings.id_token_lifetime_seconds, access_token=token, **id_token_claims
        )
    return token_response(token, claims, **extra)


def _store(request: Request) -> SignInStore:
    return request.state.signin


async def _authorization_code(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    """Redeem a code (RFC 6749 section 4.1.3) with its PKCE verifier (RFC 7636 section 4.5).

    The code must be unexpired, issued to this client, for this redirect URI and this verifier's
    challenge; all are checked before it is spent. A code presented again is refused and what it issued
    is revoked (section 4.1.2). Every refusal is the same `invalid_grant`: a guesser learns nothing.
    """
    code, redirect_uri, verifier = form.get("code"), form.get("redirect_uri"), form.get("code_verifier")
    if not code or not redirect_uri:
        raise OAuthError("invalid_request", "code and redirect_uri are required")
    if not verifier:
        raise OAuthError("invalid_request", "code_verifier is required (PKCE)")
    store = _store(request)
    row = await anyio.to_thread.run_sync(store.find_code, code)
    if row is None or row.expires_at <= tokens.now():
        raise OAuthError("invalid_grant", "the code is not valid (unknown or expired)")
    if row.redeemed_at is None:
        if row.client_id != client.client_id or row.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "the code was not issued to this client for this redirect_uri")
        if not verifier_matches(verifier, row.code_challenge):
            raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
    issued = _issued(tokens)
    if await anyio.to_thread.run_sync(store.redeem_code, code, issued) is not Redemption.OK:
        raise OAuthError("invalid_grant", "the code was already used: the tokens issued for it are revoked")
    user = realm.users_by_id.get(row.user_id)
    login = await anyio.to_thread.run_sync(store.session_by_sid, row.sid)
    if user is None or login is None:
        raise OAuthError("invalid_grant", "the sign-in this code came from has ended")
    refresh = None
    if GRANT_REFRESH_TOKEN in client.grant_types:
        refresh = await anyio.to_thread.run_sync(
            lambda: store.new_refresh_token(
                family_id=issued.family_id, client_id=client.client_id, scope=row.scope, login=login, issued=issued
            )
        )
    return await _user_tokens(
        request, client=client, grant=GRANT_AUTHORIZATION_CODE, user=user, scope=row.scope, issued=issued,
        tokens=tokens, settings=settings, refresh_token=refresh,
        id_token_claims={"auth_time": row.auth_time, "sid": row.sid, "nonce": row.nonce},
    )  # fmt: skip


async def _refresh_token(
    request: Request, form: dict[str, str], client: Client, realm: Realm, tokens: TokenService, settings: Settings
) -> JSONResponse:
    """A new access token and a new refresh token for a refresh token, which is spent (RFC 6749 section 6,
    rotation per RFC 9700 section 4.14.2). A spent one presented again revokes its whole family."""
    presented = form.get("refresh_token")
    if not presented:
        raise OAuthError("invalid_request", "refresh_token is required")
    issued = _issued(tokens)
    outcome, row, new = await anyio.to_thread.run_sync(_store(request).rotate, presented, client.client_id, issued)
    if outcome is Rotation.REUSED:
        raise OAuthError("invalid_grant", "the refresh token was already used: its whole family is revoked")
    if outcome is not Rotation.OK or row is None or new is None:
        raise OAuthError("invalid_grant", "the refresh token is not valid (unknown, revoked, expired or signed out)")
    user = realm.users_by_id.get(row.user_id)
    if user is None:
        raise OAuthError("invalid_grant", "the refresh token's user no longer exists")
    scope = row.scope
    if "scope" in form:  # RFC 6749 section 6: may narrow, never widen
        asked = form["scope"].split()
        if not set(asked) <= set(scope.split()):
            raise OAuthError("invalid_scope", "a refresh may narrow the scope, not widen it")
        scope = " ".join(asked)
    return await _user_tokens(
        request, client=client, grant=GRANT_REFRESH_TOKEN, user=user, scope=scope, issued=issued, tokens=tokens,
        settings=settings, refresh_token=new, id_token_claims={"auth_time": row.auth_time, "sid": row.sid},
    )  # fmt: skip


Grant = Callable[[Request, OAuthForm, Client, Realm, TokenService, Settings], Awaitable[JSONResponse]]
GRANTS: dict[str, Grant] = {
    GRANT_CLIENT_CREDENTIALS: _client_credentials,
    GRANT_PASSWORD: _password,
    GRANT_TOKEN_EXCHANGE: _token_exchange,
    GRANT_AUTHORIZATION_CODE: _authorization_code,
    GRANT_REFRESH_TOKEN: _refresh_token,
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
    telemetry.record_grant(grant_type, client.client_id)
    return await grant(request, form, client, realm, tokens, settings)

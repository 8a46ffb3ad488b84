"""Signing in in the browser: /authorize (code flow + PKCE), the login form, and /logout (OIDC RP-Initiated Logout).

docs/identity.md ("Signing in") walks through the flow; identity.authorization holds the protocol rules.
"""

from __future__ import annotations

import hmac
from typing import Any

import anyio.to_thread
import jwt
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from identity.authorization import (
    PARAMETERS,
    AuthorizationRequest,
    RedirectError,
    UnsafeRedirect,
    parse,
    with_query,
)
from identity.deps import RealmDep, SettingsDep
from identity.models import LoginSession
from identity.oauth import read_form
from identity.pages import login_page, logout_page, message_page
from identity.realm import Client, Realm
from identity.settings import Settings
from identity.signin import SignInStore, new_secret
from identity.throttle import TooManyAttempts, client_address

router = APIRouter(tags=["sign-in"])

SESSION_COOKIE = "identity_session"
#: Double-submit CSRF token of the login and logout forms: the form field must equal this cookie, which
#: another site can neither read nor set (SameSite=Strict, HttpOnly).
CSRF_COOKIE = "identity_csrf"


def _store(request: Request) -> SignInStore:
    return request.state.signin


def _secure(settings: Settings) -> bool:
    return settings.issuer.startswith("https://")


def _set_session_cookie(response: Response, cookie: str, settings: Settings) -> None:
    # Lax, not Strict: the browser must send it on the top-level GET from a client's site to /authorize,
    # which is how a second client signs in without a password.
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=settings.session_lifetime_seconds, httponly=True, samesite="lax",
        secure=_secure(settings), path="/",
    )  # fmt: skip


def _csrf(request: Request) -> tuple[str, bool]:
    """The CSRF token of this browser, and whether it is new (then the response must set its cookie)."""
    current = request.cookies.get(CSRF_COOKIE)
    return (current, False) if current else (new_secret(), True)


def _with_csrf_cookie(response: Response, token: str, new: bool, settings: Settings) -> Response:
    if new:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(settings), path="/")
    return response


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie, field = request.cookies.get(CSRF_COOKIE, ""), form.get("csrf_token", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())


def _redirect(location: str, status: int = 302) -> RedirectResponse:
    return RedirectResponse(location, status_code=status, headers={"Cache-Control": "no-store"})


def _refused(error: UnsafeRedirect) -> HTMLResponse:
    return message_page("Cannot continue", str(error), status=400)


def _error_redirect(error: RedirectError, settings: Settings, status: int = 302) -> RedirectResponse:
    location = error.request.redirect(settings.issuer, error=error.error, error_description=error.description)
    return _redirect(location, status)


def _granted_scope(auth: AuthorizationRequest, realm: Realm) -> str:
    """The scopes asked for, or (none asked) everything the client may have for its APIs, as at /token."""
    if auth.scopes:
        return " ".join(auth.scopes)
    return " ".join(sorted(auth.client.scopes & realm.scopes_for(auth.client.audiences)))


async def _code_redirect(
    request: Request, auth: AuthorizationRequest, login: LoginSession, realm: Realm, settings: Settings, status: int
) -> RedirectResponse:
    code = await anyio.to_thread.run_sync(
        lambda: _store(request).new_code(
            client_id=auth.client.client_id, redirect_uri=auth.redirect_uri, code_challenge=auth.code_challenge,
            scope=_granted_scope(auth, realm), nonce=auth.nonce, login=login,
        )
    )  # fmt: skip
    return _redirect(auth.redirect(settings.issuer, code=code), status)


def _login_form(request: Request, auth: AuthorizationRequest, settings: Settings, **kwargs: Any) -> Response:
    csrf, new = _csrf(request)
    page = login_page(client_id=auth.client.client_id, carried=auth.carried(), csrf=csrf, **kwargs)
    return _with_csrf_cookie(page, csrf, new, settings)


@router.get("/authorize")
async def authorize(request: Request, realm: RealmDep, settings: SettingsDep) -> Response:
    """The authorization endpoint (RFC 6749 section 3.1): the code flow with PKCE (S256), nothing else.

    A user already signed in at identity gets a code at once, unless the client asks `prompt=login`;
    `prompt=none` never shows a page (`login_required` when nobody is signed in).
    """
    if any(len(request.query_params.getlist(k)) > 1 for k in PARAMETERS):
        # RFC 6749 section 3.1: no parameter twice. Which redirect_uri would be meant? None: shown, not sent.
        return _refused(UnsafeRedirect("The request names a parameter more than once."))
    params = {k: v for k, v in request.query_params.items() if k in PARAMETERS}
    try:
        auth = parse(params, realm)
    except UnsafeRedirect as error:
        return _refused(error)
    except RedirectError as error:
        return _error_redirect(error, settings)
    cookie = request.cookies.get(SESSION_COOKIE)
    login = await anyio.to_thread.run_sync(_store(request).active_session, cookie) if cookie else None
    if auth.prompt == "none" and login is None:
        return _error_redirect(RedirectError("login_required", "nobody is signed in", auth), settings)
    if login is None or auth.prompt == "login":
        return _login_form(request, auth, settings)
    return await _code_redirect(request, auth, login, realm, settings, 302)


@router.post("/login")
async def login(request: Request, realm: RealmDep, settings: SettingsDep) -> Response:
    """The login form's post: check the CSRF token and the password (throttled like the token endpoint),
    start a session at identity, and send the browser back to the client with a code (303)."""
    form = await read_form(request)
    try:
        auth = parse({k: v for k, v in form.items() if k in PARAMETERS}, realm)
    except UnsafeRedirect as error:
        return _refused(error)
    except RedirectError as error:
        return _error_redirect(error, settings, 303)
    if not _csrf_ok(request, form):
        # A cross-site post (login CSRF) or a form from an old browser session: show a fresh form.
        return _login_form(request, auth, settings, error="The form expired. Please sign in again.", status=403)
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return _login_form(request, auth, settings, username=username, error="Enter your username and password.",
                           status=400)  # fmt: skip
    try:
        attempt = request.state.login_throttle.begin(username, client_address(request, settings))
    except TooManyAttempts as error:
        return _login_form(request, auth, settings, username=username, error=str(error).capitalize() + ".",
                           status=429, headers={"Retry-After": str(error.retry_after)})  # fmt: skip
    user = await request.state.passwords.authenticate(realm, username, password)
    if user is None:
        return _login_form(request, auth, settings, username=username, error="Wrong username or password.",
                           status=401)  # fmt: skip
    attempt.succeeded()
    cookie, session = await anyio.to_thread.run_sync(
        lambda: _store(request).start_session(user.id, replacing=request.cookies.get(SESSION_COOKIE))
    )
    response = await _code_redirect(request, auth, session, realm, settings, 303)
    _set_session_cookie(response, cookie, settings)
    return response


# --- logout ------------------------------------------------------------------------------------------


class _LogoutRefused(Exception):
    pass


def _hinted_claims(request: Request, hint: str) -> dict[str, Any]:
    """An ID token identity issued (signature and issuer checked); expired is fine here (OIDC RP-Initiated
    Logout 1.0 section 2: the hint is often old by the time the user signs out)."""
    try:
        key = request.state.ring.find(jwt.get_unverified_header(hint).get("kid", ""))
        if key is None:
            raise _LogoutRefused("The sign-out request names an ID token identity does not know.")
        return jwt.decode(
            hint, key.pyjwk, algorithms=[key.alg], issuer=request.state.settings.issuer,
            options={"verify_exp": False, "verify_aud": False, "require": ["sub", "aud", "iss"]},
        )  # fmt: skip
    except jwt.PyJWTError:
        raise _LogoutRefused("The sign-out request carries an ID token that is not valid.") from None


def _logout_client(params: dict[str, str], claims: dict[str, Any] | None, realm: Realm) -> Client | None:
    client_id = params.get("client_id")
    if claims is not None:
        aud = claims["aud"] if isinstance(claims["aud"], str) else (claims["aud"] or [""])[0]
        if client_id and client_id != aud:
            raise _LogoutRefused("The sign-out request names two different applications.")
        client_id = aud
    if not client_id:
        return None
    client = realm.clients.get(client_id)
    if client is None:
        raise _LogoutRefused("The application that sent you here is not known to identity.")
    return client


def _after_logout(params: dict[str, str], client: Client | None, status: int) -> Response:
    target = params.get("post_logout_redirect_uri")
    if target and client is not None:
        state = params.get("state")
        response: Response = _redirect(with_query(target, {"state": state}) if state else target, status)
    else:
        response = message_page("Signed out", "You are signed out of todo-suite identity.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _logout(request: Request, params: dict[str, str], realm: Realm, *, confirmed: bool) -> Response:
    settings: Settings = request.state.settings
    params = {
        k: v for k, v in params.items() if k in ("id_token_hint", "post_logout_redirect_uri", "client_id", "state")
    }
    try:
        claims = _hinted_claims(request, params["id_token_hint"]) if params.get("id_token_hint") else None
        client = _logout_client(params, claims, realm)
        target = params.get("post_logout_redirect_uri")
        # Exact match against the client's registered list, or identity would be an open redirector.
        if target and (client is None or target not in client.post_logout_redirect_uris):
            raise _LogoutRefused("The address to return to after signing out is not one the application registered.")
    except _LogoutRefused as error:
        return message_page("Cannot sign out", str(error), status=400)
    store = _store(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    current = await anyio.to_thread.run_sync(store.active_session, cookie) if cookie else None
    if claims is not None and claims.get("sid"):
        # The client showed an ID token of this sign-in: its session ends without asking.
        await anyio.to_thread.run_sync(store.end_session, str(claims["sid"]))
        return _after_logout(params, client, 302 if not confirmed else 303)
    if not confirmed:
        csrf, new = _csrf(request)
        return _with_csrf_cookie(logout_page(carried=params, csrf=csrf), csrf, new, settings)
    if current is not None:
        await anyio.to_thread.run_sync(store.end_session, current.sid)
    return _after_logout(params, client, 303)


@router.get("/logout")
async def logout(request: Request, realm: RealmDep) -> Response:
    """The end-session endpoint (OIDC RP-Initiated Logout 1.0): with a valid `id_token_hint` the session
    ends at once; without one, the user is asked first (a form), so no other site can sign them out."""
    return await _logout(request, dict(request.query_params), realm, confirmed=False)


@router.post("/logout")
async def logout_confirmed(request: Request, realm: RealmDep) -> Response:
    """The sign-out form's post (CSRF-checked), or an RP's POST with an `id_token_hint`."""
    form = await read_form(request)
    if not form.get("id_token_hint") and not _csrf_ok(request, form):
        return message_page("Cannot sign out", "The form expired. Please try again.", status=403)
    return await _logout(request, form, realm, confirmed=True)

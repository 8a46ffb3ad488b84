"""Signing in and out: the code flow with PKCE against identity, and the session cookie.

`/auth/login` starts a sign-in (state, nonce and PKCE verifier kept in the server-side session) and sends
the browser to identity; `/auth/callback` checks what comes back, redeems the code, validates the ID token,
and replaces the session with a signed-in one (a new cookie). `/auth/logout` ends it here and at identity.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from servicekit import in_thread
from web import sessions
from web.api import ApiError
from web.deps import CurrentSession, EngineDep, IdentityDep, SettingsDep, api_for, cookie_name
from web.models import WebSession, utcnow
from web.oidc import SignInError
from web.pages import csrf_ok, forbidden_form, message
from web.settings import Settings

router = APIRouter(prefix="/auth", tags=["sign-in"])


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def set_cookie(response: Response, cookie: str, settings: Settings, lifetime: int) -> None:
    # Lax, not Strict: the browser comes back from identity's login page to /auth/callback by a top-level
    # navigation from identity's site, which must carry the cookie of the sign-in it started.
    response.set_cookie(
        cookie_name(settings), cookie, max_age=lifetime, path="/", httponly=True, samesite="lax",
        secure=settings.secure_cookies,
    )  # fmt: skip


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings), path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


@router.get("/login")
async def login(request: Request, row: CurrentSession, settings: SettingsDep, identity: IdentityDep) -> Response:
    """Start a sign-in: remember state, nonce and the PKCE verifier here, send the browser to identity."""
    try:
        start = await identity.start()
    except (SignInError, httpx.HTTPError):
        return message(request, None, "Cannot sign in", "identity cannot be reached right now.", status=503)
    engine = request.state.engine
    response = redirect(start.url)
    if row is not None and not row.signed_in:
        row.login_state, row.login_nonce, row.login_verifier = start.state, start.nonce, start.verifier
        row.expires_at = utcnow() + timedelta(seconds=settings.login_timeout_seconds)
        await in_thread(sessions.save, engine, row)
        return response
    # A new pre-sign-in session (a signed-in one is left alone until the new sign-in completes).
    pending = WebSession(
        id="", csrf_token="", expires_at=utcnow(),
        login_state=start.state, login_nonce=start.nonce, login_verifier=start.verifier,
    )  # fmt: skip
    cookie, _ = await in_thread(sessions.create, engine, timedelta(seconds=settings.login_timeout_seconds), pending)
    set_cookie(response, cookie, settings, settings.login_timeout_seconds)
    return response


@router.get("/callback")
async def callback(
    request: Request, row: CurrentSession, settings: SettingsDep, identity: IdentityDep, engine: EngineDep
) -> Response:
    """identity's answer: the code (or an error), `state` (RFC 6749 section 10.12) and `iss` (RFC 9207)."""
    params = request.query_params
    if row is None or not row.login_state or not row.login_nonce or not row.login_verifier:
        return message(request, None, "Cannot sign in", "This sign-in was not started here, or it took too long. "
                       "Please start again.", status=400)  # fmt: skip
    if not secrets.compare_digest(params.get("state", ""), row.login_state):
        return message(request, None, "Cannot sign in", "The answer does not belong to this sign-in.", status=400)
    if params.get("iss", settings.authz.issuer) != settings.authz.issuer:
        return message(request, None, "Cannot sign in", "The answer comes from another server.", status=400)
    if "error" in params or "code" not in params:
        return message(request, None, "Not signed in", "identity did not sign you in. Please try again.", status=400)
    nonce, verifier = row.login_nonce, row.login_verifier
    # The pending sign-in is spent whatever happens next: a code cannot be tried twice against it.
    await in_thread(sessions.remove, engine, row.id)
    try:
        tokens = await identity.redeem(params["code"], verifier)
        if tokens.id_token is None:
            raise SignInError("identity sent no ID token")
        claims = await identity.verify_id_token(tokens.id_token, nonce=nonce)
    except SignInError as error:
        return message(request, None, "Cannot sign in", str(error), status=400)
    except httpx.HTTPError:
        return message(request, None, "Cannot sign in", "identity cannot be reached right now.", status=503)
    lifetime = settings.session_lifetime_seconds
    signed_in_row = WebSession(
        id="", csrf_token="", expires_at=utcnow(),
        subject=str(claims["sub"]), username=str(claims.get("preferred_username") or claims["sub"]),
        access_token=tokens.access_token, access_expires_at=utcnow() + timedelta(seconds=tokens.expires_in),
        refresh_token=tokens.refresh_token, id_token=tokens.id_token,
    )  # fmt: skip
    cookie, signed_in = await in_thread(sessions.create, engine, timedelta(seconds=lifetime), signed_in_row)
    # The roles are the API's to tell (the ID token names who, not what they may do): asked once.
    try:
        me = await api_for(request, signed_in).call("GET", "/todos/whoami")
        signed_in.roles = " ".join(str(r) for r in me.get("roles", []))
        await in_thread(sessions.save, engine, signed_in)
    except ApiError:
        pass
    response = redirect("/")
    set_cookie(response, cookie, settings, lifetime)
    return response


@router.post("/logout")
async def logout(
    request: Request, row: CurrentSession, settings: SettingsDep, identity: IdentityDep, engine: EngineDep
) -> Response:
    """Sign out: the session ends here and at identity (which ends its refresh families too)."""
    if row is None:
        response = redirect("/")
        clear_cookie(response, settings)
        return response
    if not await csrf_ok(request, row):
        return forbidden_form(request, row)
    await in_thread(sessions.remove, engine, row.id)
    if row.id_token:
        # Signed out here whatever identity answers; if it cannot be reached, its session ends by its lifetime.
        with contextlib.suppress(httpx.HTTPError):
            await identity.end_session(row.id_token)
    response = redirect("/?signed_out=1")
    clear_cookie(response, settings)
    return response

"""Typed access to what `lifespan` built (request.state), and the browser's session, as dependency aliases."""

from __future__ import annotations

from typing import Annotated, TypedDict

import httpx
from fastapi import Depends, Request
from sqlalchemy import Engine

from servicekit import in_thread
from web import sessions, telemetry
from web.api import Api
from web.models import WebSession
from web.oidc import Identity
from web.settings import Settings


class State(TypedDict):
    settings: Settings
    engine: Engine
    http: httpx.AsyncClient
    identity: Identity


def cookie_name(settings: Settings) -> str:
    """`__Host-` binds the cookie to this exact origin (no Domain, Path=/, Secure); browsers accept the
    prefix only on a Secure cookie, so plain-HTTP development goes without it (docs/web.md)."""
    return "__Host-web_session" if settings.secure_cookies else "web_session"


async def _current(request: Request) -> WebSession | None:
    settings: Settings = request.state.settings
    cookie = request.cookies.get(cookie_name(settings))
    if not cookie:
        return None
    row = await in_thread(sessions.load, request.state.engine, cookie, None)
    if row is not None and row.signed_in:
        # The BFF's auth facts on its server span: the opaque subject, never the username or a token.
        telemetry.record_session(row.subject, mode=settings.authz.mode.value, client_id=settings.client_id)
    return row


def _settings(request: Request) -> Settings:
    return request.state.settings


def _identity(request: Request) -> Identity:
    return request.state.identity


def _engine(request: Request) -> Engine:
    return request.state.engine


def api_for(request: Request, row: WebSession) -> Api:
    return Api(request.state.http, request.state.engine, request.state.identity, request.state.settings, row)


class NotSignedIn(Exception):
    """A page for signed-in people was asked for without a signed-in session (app.py: back to the sign-in page)."""


CurrentSession = Annotated[WebSession | None, Depends(_current)]


async def require_session(request: Request, row: CurrentSession) -> WebSession:
    """The guard of every page but the sign-in ones: a signed-in session, or `NotSignedIn`."""
    if row is None or not row.signed_in:
        settings: Settings = request.state.settings
        telemetry.record_session(None, mode=settings.authz.mode.value, client_id=settings.client_id)
        raise NotSignedIn()
    return row


#: A signed-in person's session: what every page of theirs takes (the tokens stay inside it, server-side).
SignedIn = Annotated[WebSession, Depends(require_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
IdentityDep = Annotated[Identity, Depends(_identity)]
EngineDep = Annotated[Engine, Depends(_engine)]

"""The identity service: `uvicorn identity.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlmodel import SQLModel

import authz
from identity.deps import State
from identity.keys import KeyRing, RingKeySource
from identity.oauth import OAuthError
from identity.realm import load_realm
from identity.routes import admin, directory, discovery, introspection, token, userinfo
from identity.settings import Settings
from identity.tokens import TokenService
from servicekit import health_router, make_engine


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Nothing touches the database or the realm file until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        engine = make_engine(settings.database_url)
        # Issue #6 replaces this with Alembic migrations; until then the schema is created if missing.
        SQLModel.metadata.create_all(engine)
        realm = load_realm(settings.realm_file)
        ring = KeyRing(
            engine,
            alg=settings.signing_alg,
            publish_delay=settings.key_publish_delay_seconds,
            token_lifetime=settings.access_token_lifetime_seconds,
            leeway=settings.leeway_seconds,
        )
        ring.load()
        # Identity's own API (the user directory) checks tokens like any resource server, with the
        # keys it holds instead of a JWKS fetched over HTTP. It is not behind the gateway, so whatever
        # the suite's boundary mode, it verifies every token itself.
        api_settings = authz.AuthzSettings(
            mode=authz.Mode.PASSTHROUGH,
            issuer=settings.issuer,
            audience=settings.api_audience,
            algorithms=[settings.signing_alg],
            leeway_seconds=settings.leeway_seconds,
        )
        authenticator = authz.Authenticator.from_settings(api_settings, keys=RingKeySource(ring))
        tokens = TokenService(ring, engine, issuer=settings.issuer, lifetime=settings.access_token_lifetime_seconds)
        try:
            yield State(
                settings=settings,
                engine=engine,
                realm=realm,
                ring=ring,
                tokens=tokens,
                authz=authenticator,
            )
        finally:
            engine.dispose()

    app = FastAPI(title="identity", summary="todo-suite's development OAuth 2.0 / OIDC server", lifespan=lifespan)
    authz.install_problem_handlers(app, realm="identity")

    async def on_oauth_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, OAuthError)
        return error.response(request.state.realm.name)

    app.add_exception_handler(OAuthError, on_oauth_error)
    for module in (discovery, token, introspection, userinfo, directory, admin):
        app.include_router(module.router)
    app.include_router(health_router())
    return app

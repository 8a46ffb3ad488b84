"""The identity service: `uvicorn identity.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

import authz
from identity import telemetry
from identity.deps import State
from identity.keys import KeyRing, RingKeySource
from identity.oauth import OAuthError
from identity.passwords import PasswordPool
from identity.phantom import PhantomTokens
from identity.realm import Realm, load_realm, refuse_development_client_secrets, with_client_uris, with_opaque_tokens
from identity.routes import admin, directory, discovery, introspection, signin, token, userinfo
from identity.settings import Settings
from identity.signin import SignInStore
from identity.subject_tokens import SubjectTokens
from identity.throttle import LoginThrottle, TooManyAttempts
from identity.tokens import TokenService
from servicekit import health_router, install_unavailable_handler, make_engine, upgrade_to_head, warm_routes


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the app. Nothing touches the database or the realm file until the lifespan starts.

    `transport` replaces the network for identity's own outbound calls (a trusted issuer's JWKS) in tests.
    """
    settings = settings or Settings()
    telemetry.configure()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        # Start-up work is blocking (the realm hashes its passwords, migrations, keys): done in a worker
        # thread, so even start-up never holds the event loop (docs/architecture.md, "A free event loop").
        realm, engine, ring = await anyio.to_thread.run_sync(_open_blocking, settings)
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
        phantoms = PhantomTokens(engine, clock=tokens.now)
        # Only needed to fetch a trusted foreign issuer's JWKS (the gateway's, in reissue).
        # (Over a Unix socket where AUTHZ_UNIX_SOCKETS says so, read into api_settings: the local mesh.)
        http = (
            httpx.AsyncClient(
                transport=transport, mounts=authz.unix_socket_mounts(api_settings.unix_sockets), timeout=5.0
            )
            if settings.trusted_subject_issuers
            else None
        )
        subject_tokens = SubjectTokens(tokens, settings.trusted_subject_issuers, http, leeway=settings.leeway_seconds)
        await warm_routes(app)
        try:
            yield State(
                settings=settings,
                engine=engine,
                realm=realm,
                ring=ring,
                tokens=tokens,
                phantoms=phantoms,
                subject_tokens=subject_tokens,
                authz=authenticator,
                passwords=PasswordPool(settings.password_hash_threads),
                login_throttle=LoginThrottle.from_settings(settings),
                signin=SignInStore(
                    engine,
                    session_lifetime=settings.session_lifetime_seconds,
                    code_lifetime=settings.authorization_code_lifetime_seconds,
                    refresh_lifetime=settings.refresh_token_lifetime_seconds,
                    clock=tokens.now,
                ),
            )
        finally:
            if http is not None:
                await http.aclose()
            await anyio.to_thread.run_sync(engine.dispose)

    app = FastAPI(title="identity", summary="todo-suite's development OAuth 2.0 / OIDC server", lifespan=lifespan)
    authz.install_problem_handlers(app, realm="identity")
    install_unavailable_handler(app)

    async def on_oauth_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, OAuthError)
        telemetry.record_refusal(error.error, error.status)
        return error.response(request.state.realm.name)

    async def on_too_many_attempts(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TooManyAttempts)
        return error.response()

    app.add_exception_handler(OAuthError, on_oauth_error)
    app.add_exception_handler(TooManyAttempts, on_too_many_attempts)
    for module in (discovery, signin, token, introspection, userinfo, directory, admin):
        app.include_router(module.router)
    app.include_router(health_router())
    telemetry.instrument(app)
    return app


def _open_blocking(settings: Settings) -> tuple[Realm, Engine, KeyRing]:
    # The realm first: a bad realm file or IDENTITY_OPAQUE_TOKEN_CLIENTS stops start-up before the database.
    realm = with_opaque_tokens(load_realm(settings.realm_file), settings.opaque_token_clients)
    refuse_development_client_secrets(realm, settings.env)
    realm = with_client_uris(realm, settings.client_uris)
    engine = make_engine(settings.database_url)
    # Schema to head before anything reads it (a no-op after a Kubernetes init container's
    # `python -m identity.migrate`). See docs/migrations.md.
    upgrade_to_head(engine, "identity.migrations")
    ring = KeyRing(
        engine,
        alg=settings.signing_alg,
        publish_delay=settings.key_publish_delay_seconds,
        token_lifetime=settings.access_token_lifetime_seconds,
        leeway=settings.leeway_seconds,
    )
    ring.load()
    return realm, engine, ring

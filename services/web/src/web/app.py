"""The web UI: `uvicorn web.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

import authz
from servicekit import health_router, make_engine, upgrade_to_head, warm_routes
from web import journey, routes, sessions, signin, telemetry
from web.deps import NotSignedIn, State
from web.oidc import Identity
from web.pages import STATIC_DIR, compile_templates
from web.settings import SERVICE_NAME, Settings

#: No script at all, styles from this origin only (no inline style: no 'unsafe-inline'), no framing, forms
#: posted only here. Ref: https://www.w3.org/TR/CSP3/
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The callback URL carries the code: no Referer may take it anywhere.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the app; nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    settings = settings or Settings()  # WEB_CLIENT_SECRET is required
    telemetry.configure()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        # Blocking (driver import, migrations, first connection): in a worker thread, off the loop.
        engine = await anyio.to_thread.run_sync(make_engine, settings.database_url)
        try:
            await anyio.to_thread.run_sync(upgrade_to_head, engine, "web.migrations")
            await anyio.to_thread.run_sync(sessions.purge_expired, engine, None)
            # anyio imports its file module on first use, which is the first static file served: import it now,
            # off the loop, not inside a request.
            await anyio.to_thread.run_sync(getattr, anyio, "open_file")
            await anyio.to_thread.run_sync(compile_templates)
            async with httpx.AsyncClient(
                transport=transport,
                mounts=authz.unix_socket_mounts(settings.authz.unix_sockets),
                timeout=settings.authz.http_timeout_seconds,
            ) as http:
                await warm_routes(app)
                yield State(settings=settings, engine=engine, http=http, identity=Identity(http, settings))
        finally:
            await anyio.to_thread.run_sync(engine.dispose)

    app = FastAPI(title=SERVICE_NAME, summary="The web UI (a backend-for-frontend)", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)  # fmt: skip

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    authz.install_problem_handlers(app, realm=SERVICE_NAME)

    async def to_sign_in(request: Request, error: Exception) -> Response:
        return RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})

    app.add_exception_handler(NotSignedIn, to_sign_in)
    app.include_router(signin.router)
    app.include_router(routes.router)
    app.include_router(journey.router)
    app.include_router(health_router(store="the session store", metrics=False))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    telemetry.instrument(app)
    return app

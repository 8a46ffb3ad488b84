"""Every route of every service is protected, or public by design and listed here with its reason.

One parametrised meta-test over the six services (the lightweight version of Polar's `lint_org_scope`):
it walks each app's routes — included routers too — and fails on a route that depends on no guard
(`authz.get_principal`, through `authz.require` or the service's named permissions; for identity's admin
API, its client authentication). The public routes are listed per service, exactly: the audit without
the list must report exactly them, so a stale entry fails as surely as a forgotten guard.

The gateway's API is not a set of routes: every `/api/<service>/…` request goes through
`EdgeProxy` (plain ASGI), checked here by what the app is built from; its own routes are the
operator endpoints, all public.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

import authz
from authz.testing import unprotected_routes

#: A named permission, as a service's auth.py declares them: protected through `authz.require`.
AdminOnly = Annotated[authz.Principal, Depends(authz.require(roles={"admin"}, kind=authz.Kind.USER))]

PROBES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


@dataclass(frozen=True)
class Service:
    #: The FastAPI app whose routes are audited.
    build: Callable[[], FastAPI]
    #: (method, path) of each route that is public by design, with nothing but its reason between them.
    public: frozenset[tuple[str, str]]
    #: The service's endpoints that must be protected: the audit must see them (it really walks the routes).
    protected: frozenset[tuple[str, str]]
    #: The prefix a new endpoint of this service would get.
    prefix: str
    guards: tuple[Callable[..., Any], ...] = field(default=(authz.get_principal,))


def _todos() -> FastAPI:
    from todos.app import create_app
    from todos.settings import Settings

    return create_app(Settings())


def _reminders() -> FastAPI:
    from reminders.app import create_app
    from reminders.settings import Settings

    return create_app(Settings(client_secret="not-used-routes-only"))


def _shares() -> FastAPI:
    from shares.app import create_app
    from shares.settings import Settings

    return create_app(Settings(client_secret="not-used-routes-only"))


def _identity() -> FastAPI:
    from identity.app import create_app
    from identity.settings import Settings

    return create_app(Settings(env="dev"))


def _gateway_ops() -> FastAPI:
    from gateway.app import create_app
    from gateway.settings import Settings

    return create_app(Settings()).ops


def _web() -> FastAPI:
    from web.app import create_app
    from web.settings import Settings

    return create_app(Settings(client_secret="not-used-routes-only"))


def _web_guard() -> Callable[..., Any]:
    from web.deps import require_session

    return require_session


def _identity_admin_guard() -> Callable[..., Any]:
    from identity.routes.admin import AdminClient

    return AdminClient.__metadata__[0].dependency


SERVICES: dict[str, Service] = {
    "todos": Service(
        build=_todos,
        public=frozenset(PROBES),
        protected=frozenset(
            {
                ("GET", "/todos"),
                ("POST", "/todos"),
                ("GET", "/todos/{todo_id}"),
                ("PATCH", "/todos/{todo_id}"),
                ("DELETE", "/todos/{todo_id}"),
                ("GET", "/todos/whoami"),
                ("GET", "/todos/shared"),
                ("GET", "/todos/due"),
                ("GET", "/todos/audit"),
                ("PUT", "/todos/{todo_id}/grants/{grantee_id}"),
                ("DELETE", "/todos/{todo_id}/grants/{grantee_id}"),
            }
        ),
        prefix="/todos",
    ),
    "reminders": Service(
        build=_reminders,
        public=frozenset(PROBES),
        protected=frozenset({("GET", "/reminders"), ("POST", "/reminders/run"), ("GET", "/reminders/whoami")}),
        prefix="/reminders",
    ),
    "shares": Service(
        build=_shares,
        public=frozenset(PROBES),
        protected=frozenset(
            {
                ("POST", "/shares"),
                ("GET", "/shares/sent"),
                ("GET", "/shares/received"),
                ("DELETE", "/shares/{share_id}"),
                ("GET", "/shares/whoami"),
            }
        ),
        prefix="/shares",
    ),
    "identity": Service(
        build=_identity,
        public=frozenset(
            PROBES
            | {
                # Discovery and the key set are public by definition (OIDC Discovery 1.0 section 4, RFC 8414
                # section 3, RFC 7517): verifiers read them before they hold anything.
                ("GET", "/.well-known/openid-configuration"),
                ("GET", "/.well-known/oauth-authorization-server"),
                ("GET", "/jwks"),
                # The OAuth endpoints authenticate the client themselves, from the form or HTTP Basic
                # (RFC 6749 section 2.3 and 3.2, RFC 7662 section 2.1, RFC 7009 section 2.1), inside the handler.
                ("POST", "/token"),
                ("POST", "/introspect"),
                ("POST", "/revoke"),
                # UserInfo checks its bearer token against identity's own token store (OIDC Core section 5.3).
                ("GET", "/userinfo"),
                # The browser's side of signing in: this is where a user authenticates (the login form,
                # CSRF-checked, or identity's session cookie), so nothing can stand before it
                # (RFC 6749 section 3.1, OIDC Core section 3.1.2, OIDC RP-Initiated Logout 1.0).
                ("GET", "/authorize"),
                ("POST", "/login"),
                ("GET", "/logout"),
                ("POST", "/logout"),
            }
        ),
        protected=frozenset(
            {
                ("GET", "/users"),
                ("GET", "/users/{user_id}"),
                ("GET", "/admin/keys"),
                ("POST", "/admin/keys"),
                ("GET", "/admin/stats"),
            }
        ),
        prefix="/users",
        guards=(authz.get_principal, _identity_admin_guard()),
    ),
    "gateway": Service(
        build=_gateway_ops,
        # The operator endpoints; `reissue` publishes its public key as every issuer does (RFC 7517).
        public=frozenset(PROBES | {("GET", "/.well-known/jwks.json")}),
        protected=frozenset(),
        prefix="/admin",
    ),
    # The web UI's guard is the signed-in session (its tokens stay server-side): every page of a person's
    # takes `web.deps.SignedIn`. It has no /metrics (no token verifier to count for).
    "web": Service(
        build=_web,
        public=frozenset(
            {
                ("GET", "/healthz"),
                ("GET", "/readyz"),
                # The sign-in page when signed out, the person's todos when signed in: it reads the session
                # itself and calls the API only with a signed-in one.
                ("GET", "/"),
                # Signing in is what someone without a session does (RFC 6749 section 4.1, OIDC Core 3.1):
                # the start of the code flow and identity's redirect back, checked by state, PKCE and nonce.
                ("GET", "/auth/login"),
                ("GET", "/auth/callback"),
                # Signing out: without a session there is nothing to end; with one, its CSRF token is checked.
                ("POST", "/auth/logout"),
            }
        ),
        protected=frozenset(
            {
                ("POST", "/todos"),
                ("POST", "/todos/{todo_id}/complete"),
                ("POST", "/todos/{todo_id}/delete"),
                ("POST", "/todos/{todo_id}/share"),
                ("GET", "/todos/{todo_id}/edit"),
                ("POST", "/todos/{todo_id}/edit"),
                ("POST", "/shares/{share_id}/revoke"),
                ("GET", "/shared"),
                ("GET", "/audit"),
                # The token journey and the attack panel: a person's own traces, attacks sent as them.
                ("GET", "/journey"),
                ("GET", "/journey/{trace_id}"),
                ("GET", "/attacks"),
                ("POST", "/attacks/{attack_id}"),
            }
        ),
        prefix="/todos",
        guards=(authz.get_principal, _web_guard()),
    ),
}


def _reported(public: frozenset[tuple[str, str]]) -> list[str]:
    return sorted(f"['{method}'] {path}" for method, path in public)


def _routes(app: FastAPI, guards: tuple[Callable[..., Any], ...]) -> dict[tuple[str, str], bool]:
    """Every (method, path) of `app`, as FastAPI resolves included routers, and whether a guard protects it:
    the audit done again independently of `authz.testing`."""

    def guarded(dependant: Any) -> bool:
        return any(d.call in guards or guarded(d) for d in dependant.dependencies)

    seen: dict[tuple[str, str], bool] = {}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            for method in context.methods:
                seen[(method, context.path)] = guarded(context.dependant)
    return seen


@pytest.fixture(params=sorted(SERVICES))
def service(request: pytest.FixtureRequest) -> Service:
    return SERVICES[request.param]


def test_every_route_is_protected_or_listed_public(service: Service) -> None:
    app = service.build()
    allow = {path for _, path in service.public}

    assert unprotected_routes(app, allow=allow, guards=service.guards) == []


def test_the_public_list_is_exact(service: Service) -> None:
    # Without the allow-list, the public routes are exactly what is left: proof the audit saw the routes at
    # all (they come from included routers), and no entry of the list is stale.
    app = service.build()

    assert sorted(unprotected_routes(app, guards=service.guards)) == _reported(service.public)


def test_the_endpoints_are_guarded_by_an_independent_walk(service: Service) -> None:
    seen = _routes(service.build(), service.guards)

    assert set(seen) >= service.protected
    assert {route for route, guarded in seen.items() if not guarded} == service.public


def test_a_new_unprotected_route_is_reported(service: Service) -> None:
    # This is how an endpoint is really added: to an APIRouter that `create_app` includes.
    app = service.build()
    router = APIRouter(prefix=service.prefix)

    @router.delete("/purge")
    def purge() -> None:
        return None

    app.include_router(router)
    allow = {path for _, path in service.public}

    assert unprotected_routes(app, allow=allow, guards=service.guards) == [f"['DELETE'] {service.prefix}/purge"]


def test_a_route_protected_through_a_named_permission_passes(service: Service) -> None:
    app = service.build()
    router = APIRouter(prefix=service.prefix)

    @router.get("/stats")
    def stats(principal: AdminOnly) -> dict[str, int]:
        return {}

    app.include_router(router)
    allow = {path for _, path in service.public}

    assert unprotected_routes(app, allow=allow, guards=service.guards) == []


def test_the_gateway_api_goes_through_the_token_boundary() -> None:
    from gateway.app import create_app
    from gateway.boundary import API_PREFIX, EdgeProxy, GatewayApp
    from gateway.settings import Settings

    app = create_app(Settings())

    assert isinstance(app, GatewayApp)
    assert isinstance(app.api, EdgeProxy)
    assert API_PREFIX == "/api/"

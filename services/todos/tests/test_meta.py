"""Meta-tests: no route of todos ships without an authz dependency, and the audit would notice one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute, iter_route_contexts

import authz
from authz import Kind, Principal
from authz.testing import unprotected_routes
from servicekit.health import PROBE_PATHS
from todos.app import create_app

AdminOnly = Annotated[Principal, Depends(authz.require(roles={"admin"}, kind=Kind.USER))]

TODOS_ENDPOINTS = {
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


def test_every_route_is_protected(settings):
    app = create_app(settings)

    assert unprotected_routes(app, allow=PROBE_PATHS) == []


def test_audit_sees_the_probes(settings):
    # Without the allow-list the probes are what is left: proof that the audit looked at the routes at
    # all (they come from included routers), so the empty answer above means something.
    app = create_app(settings)

    reported = unprotected_routes(app)

    assert sorted(reported) == sorted(f"['GET'] {path}" for path in PROBE_PATHS)


def test_audit_reports_a_new_unprotected_route(settings):
    app = create_app(settings)

    @app.get("/todos/export")
    def export() -> list[str]:
        return []

    assert unprotected_routes(app, allow=PROBE_PATHS) == ["['GET'] /todos/export"]


def test_audit_reports_a_new_unprotected_route_in_an_included_router(settings):
    # This is how a todos endpoint is really added: to an APIRouter that `create_app` includes.
    app = create_app(settings)
    router = APIRouter(prefix="/todos")

    @router.delete("/purge")
    def purge() -> None:
        return None

    app.include_router(router)

    assert unprotected_routes(app, allow=PROBE_PATHS) == ["['DELETE'] /todos/purge"]


def test_audit_accepts_a_route_protected_through_a_dependency(settings):
    app = create_app(settings)

    @app.get("/todos/stats")
    def stats(principal: AdminOnly) -> dict[str, int]:
        return {}

    @app.get("/todos/caller", dependencies=[Depends(authz.get_principal)])
    def caller() -> dict[str, int]:
        return {}

    assert unprotected_routes(app, allow=PROBE_PATHS) == []


def test_every_todos_endpoint_depends_on_the_principal(settings):
    # The same audit done independently of authz.testing, over FastAPI's effective routes (included
    # routers resolved), so the todos routes are known to be protected whatever the helper sees.
    def depends_on_principal(dependant) -> bool:
        return any(d.call is authz.get_principal or depends_on_principal(d) for d in dependant.dependencies)

    app = create_app(settings)
    seen: dict[tuple[str, str], bool] = {}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            for method in context.methods:
                seen[(method, context.path)] = depends_on_principal(context.dependant)

    assert set(seen) >= TODOS_ENDPOINTS
    assert {key for key, protected in seen.items() if not protected} == {("GET", path) for path in PROBE_PATHS}

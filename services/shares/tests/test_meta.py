"""Meta-tests: no route of shares ships without an authz dependency, and the audit would notice one."""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts

import authz
from authz.testing import unprotected_routes
from servicekit.health import PROBE_PATHS
from shares.app import create_app

SHARES_ENDPOINTS = {
    ("POST", "/shares"),
    ("GET", "/shares/sent"),
    ("GET", "/shares/received"),
    ("DELETE", "/shares/{share_id}"),
    ("GET", "/shares/whoami"),
}


def test_every_route_is_protected(settings):
    app = create_app(settings)

    assert unprotected_routes(app, allow=PROBE_PATHS) == []


def test_audit_sees_the_probes(settings):
    # Without the allow-list the probes are what is left: proof that the audit looked at the routes at
    # all (they come from included routers), so the empty answer above means something.
    app = create_app(settings)

    assert sorted(unprotected_routes(app)) == sorted(f"['GET'] {path}" for path in PROBE_PATHS)


def test_audit_reports_a_new_unprotected_route(settings):
    app = create_app(settings)

    @app.get("/shares/export")
    def export() -> list[str]:
        return []

    assert unprotected_routes(app, allow=PROBE_PATHS) == ["['GET'] /shares/export"]


def test_every_shares_endpoint_depends_on_the_principal(settings):
    # The same audit done independently of authz.testing, over FastAPI's effective routes.
    def depends_on_principal(dependant) -> bool:
        return any(d.call is authz.get_principal or depends_on_principal(d) for d in dependant.dependencies)

    app = create_app(settings)
    seen: dict[tuple[str, str], bool] = {}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            for method in context.methods:
                seen[(method, context.path)] = depends_on_principal(context.dependant)

    assert set(seen) >= SHARES_ENDPOINTS
    assert {key for key, protected in seen.items() if not protected} == {("GET", path) for path in PROBE_PATHS}

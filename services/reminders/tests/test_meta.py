"""Meta-tests: no route of reminders ships without an authz dependency, and the audit would notice one."""

from __future__ import annotations

from fastapi import APIRouter

from authz.testing import unprotected_routes
from reminders.app import create_app
from servicekit.health import PROBE_PATHS


def test_every_route_is_protected(settings):
    app = create_app(settings)

    assert unprotected_routes(app, allow=PROBE_PATHS) == []


def test_audit_sees_the_probes(settings):
    # Without the allow-list the probes are what is left: proof that the audit looked at the routes at
    # all (they come from included routers), so the empty answer above means something.
    app = create_app(settings)

    assert sorted(unprotected_routes(app)) == sorted(f"['GET'] {path}" for path in PROBE_PATHS)


def test_audit_reports_a_new_unprotected_route_in_an_included_router(settings):
    # This is how a reminders endpoint is really added: to an APIRouter that `create_app` includes.
    app = create_app(settings)
    router = APIRouter(prefix="/reminders")

    @router.delete("/purge")
    def purge() -> None:
        return None

    app.include_router(router)

    assert unprotected_routes(app, allow=PROBE_PATHS) == ["['DELETE'] /reminders/purge"]

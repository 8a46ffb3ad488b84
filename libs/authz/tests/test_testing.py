"""`authz.testing.unprotected_routes`: the audit that keeps an endpoint from shipping without an auth check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI

from authz import Principal, get_principal, require
from authz.testing import unprotected_routes


async def current_owner(principal: Annotated[Principal, Depends(require())]) -> str:
    """A service's own dependency built on `require(...)`: routes using it are protected indirectly."""
    return principal.subject


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict:
        return {}

    @app.get("/health")
    async def health() -> dict:
        return {}

    @app.get("/guarded")
    async def guarded(principal: Annotated[Principal, Depends(require(scopes={"todos:read"}))]) -> dict:
        return {}

    @app.get("/indirect")
    async def indirect(owner: Annotated[str, Depends(current_owner)]) -> dict:
        return {}

    router = APIRouter(dependencies=[Depends(get_principal)])

    @router.delete("/by-router")
    async def by_router() -> dict:
        return {}

    app.include_router(router)
    return app


class TestUnprotectedRoutes:
    def test_reports_only_routes_without_an_authz_dependency(self):
        assert unprotected_routes(build_app()) == ["['GET'] /open", "['GET'] /health"]

    def test_honours_allow(self):
        assert unprotected_routes(build_app(), allow={"/health"}) == ["['GET'] /open"]

    def test_everything_allowed_or_protected_is_clean(self):
        assert unprotected_routes(build_app(), allow=["/health", "/open"]) == []

"""Typed access to what `lifespan` built (request.state), as FastAPI dependency aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, TypedDict

import httpx
from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

import authz
from servicekit.db import request_session
from todos.settings import Settings


class State(TypedDict):
    settings: Settings
    engine: Engine
    http: httpx.AsyncClient
    authz: authz.Authenticator


def _session(request: Request) -> Iterator[Session]:
    yield from request_session(request.state.engine)


# `async def`, though they only read request.state: FastAPI runs a plain `def` dependency in a worker thread,
# one thread hop per dependency per request (about a third of identity's CPU per client-credentials grant,
# docs/performance.md, Profiling); these never block, so they run on the loop.
async def _settings(request: Request) -> Settings:
    return request.state.settings


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]

"""Typed access to what `lifespan` built (request.state), as FastAPI dependency aliases."""

from __future__ import annotations

from typing import Annotated, TypedDict

from fastapi import Depends, Request
from sqlalchemy import Engine

import authz
from identity.keys import KeyRing
from identity.passwords import PasswordPool
from identity.phantom import PhantomTokens
from identity.realm import Realm
from identity.settings import Settings
from identity.signin import SignInStore
from identity.subject_tokens import SubjectTokens
from identity.throttle import LoginThrottle
from identity.tokens import TokenService


class State(TypedDict):
    settings: Settings
    engine: Engine
    realm: Realm
    ring: KeyRing
    tokens: TokenService
    phantoms: PhantomTokens
    subject_tokens: SubjectTokens
    authz: authz.Authenticator
    passwords: PasswordPool
    login_throttle: LoginThrottle
    signin: SignInStore


# `async def`, though they only read request.state: FastAPI runs a plain `def` dependency in a worker thread,
# one thread hop per dependency per request (about a third of identity's CPU per client-credentials grant,
# docs/performance.md, Profiling); these never block, so they run on the loop.
async def _settings(request: Request) -> Settings:
    return request.state.settings


async def _realm(request: Request) -> Realm:
    return request.state.realm


async def _ring(request: Request) -> KeyRing:
    return request.state.ring


async def _tokens(request: Request) -> TokenService:
    return request.state.tokens


def phantoms_of(request: Request) -> PhantomTokens:
    return request.state.phantoms


SettingsDep = Annotated[Settings, Depends(_settings)]
RealmDep = Annotated[Realm, Depends(_realm)]
RingDep = Annotated[KeyRing, Depends(_ring)]
TokensDep = Annotated[TokenService, Depends(_tokens)]
PhantomsDep = Annotated[PhantomTokens, Depends(phantoms_of)]

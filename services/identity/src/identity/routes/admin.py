"""Operator endpoints: rotate the signing key, see the keys and how many tokens were issued.

Authenticated as an admin client with HTTP Basic (`client_secret_basic`), like any OAuth client.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from identity.deps import RealmDep, RingDep, TokensDep
from identity.oauth import OAuthError, authenticate_client
from identity.realm import Client

router = APIRouter(prefix="/admin", tags=["admin"])


def _admin_client(request: Request, realm: RealmDep) -> Client:
    try:
        client = authenticate_client(request, {}, realm, allow_public=False)
    except OAuthError as e:
        raise HTTPException(401, e.description, headers={"WWW-Authenticate": f'Basic realm="{realm.name}"'}) from None
    if not client.admin:
        raise HTTPException(403, f"client {client.client_id!r} is not an admin client")
    return client


AdminClient = Annotated[Client, Depends(_admin_client)]


def _describe(ring, key, now: float) -> dict[str, Any]:
    state = "pending" if key.activates_at > now else ("signing" if key is ring.signing_key() else "retiring")
    return {"kid": key.kid, "alg": key.alg, "activates_at": key.activates_at, "state": state}


@router.get("/keys")
def read_keys(admin: AdminClient, ring: RingDep) -> dict[str, Any]:
    """The published keys and which one signs now."""
    now = time.time()
    data = [_describe(ring, k, now) for k in ring.published()]
    return {"data": data, "count": len(data)}


@router.post("/keys", status_code=201)
def rotate_key(admin: AdminClient, ring: RingDep) -> dict[str, Any]:
    """Rotate: publish a new key now; it signs after the publish delay. Retired keys are pruned."""
    key = ring.rotate()
    ring.prune()
    return _describe(ring, key, time.time())


@router.get("/stats")
def read_stats(admin: AdminClient, tokens: TokensDep) -> dict[str, Any]:
    """Access tokens issued since start, per client and grant type."""
    data = [{"client_id": c, "grant_type": g, "count": n} for (c, g), n in sorted(tokens.issued.items())]
    return {"data": data}

"""The user directory: services holding `users:read` look a user up by username or id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

import authz
from identity.deps import RealmDep, TokensDep

router = APIRouter(prefix="/users", tags=["users"])


def _users_read(
    principal: Annotated[authz.Principal, Depends(authz.require(scopes={"users:read"}))], tokens: TokensDep
) -> authz.Principal:
    # Identity knows its revocations, so its own API honours them (other services cannot, see docs).
    if principal.token_id is None or tokens.is_revoked(principal.token_id):
        raise authz.NotAuthenticated("the token has been revoked")
    return principal


UsersRead = Annotated[authz.Principal, Depends(_users_read)]


@router.get("")
def search_users(
    principal: UsersRead, realm: RealmDep, username: Annotated[str, Query(min_length=1, max_length=100)]
) -> dict[str, Any]:
    """Find a user by exact username: `{"data": [user], "count": 1}`, or an empty list."""
    user = realm.users.get(username)
    data = [user.public()] if user else []
    return {"data": data, "count": len(data)}


@router.get("/{user_id}")
def read_user(principal: UsersRead, realm: RealmDep, user_id: str) -> dict[str, str]:
    """One user by id (the `sub` of their tokens)."""
    user = realm.users_by_id.get(user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user.public()

"""The OIDC UserInfo endpoint: who the user behind an access token is."""

from __future__ import annotations

from fastapi import APIRouter, Request

import authz
from identity.deps import PhantomsDep, RealmDep, TokensDep

router = APIRouter(tags=["oidc"])


@router.get("/userinfo")
async def userinfo(request: Request, realm: RealmDep, tokens: TokensDep, phantoms: PhantomsDep) -> dict[str, str]:
    """Claims about the user of a valid, unrevoked user access token (OIDC Core section 5.3).

    An opaque handle (phantom token) is as good as the JWT it stands for: a client that holds only the
    handle can still ask who its user is.
    """
    token = authz.bearer_token(request)
    claims = await tokens.active_claims(phantoms.resolve(token) or token)
    user = realm.users_by_id.get(claims["sub"]) if claims else None
    if user is None:
        raise authz.NotAuthenticated("the token is not an active user token from this issuer")
    return {"sub": user.id, "preferred_username": user.username, "email": user.email}

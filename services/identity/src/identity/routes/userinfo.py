"""The OIDC UserInfo endpoint: who the user behind an access token is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

import authz
from identity.deps import PhantomsDep, RealmDep, SettingsDep, TokensDep

router = APIRouter(tags=["oidc"])


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud", [])
    return aud if isinstance(aud, list) else [aud]


@router.get("/userinfo")
async def userinfo(
    request: Request, realm: RealmDep, settings: SettingsDep, tokens: TokensDep, phantoms: PhantomsDep
) -> dict[str, str]:
    """Claims about the user of a valid, unrevoked user access token meant for this endpoint (OIDC Core 5.3).

    Meant for it: its `aud` names the UserInfo audience (`IDENTITY_USERINFO_AUDIENCE`), which a login
    with the `openid` scope adds. A token for todos alone is refused, like a token for any other API, and
    so is a delegated token (`act`): a service acting for a user may read the user's todos, not the
    user's profile. An opaque handle (phantom token) is as good as the JWT it stands for.
    """
    token = authz.bearer_token(request)
    claims = await tokens.active_claims(await phantoms.resolve_in_thread(token) or token)
    user = realm.users_by_id.get(claims["sub"]) if claims else None
    if claims is None or user is None:
        raise authz.NotAuthenticated("the token is not an active user token from this issuer")
    if "act" in claims:
        raise authz.DelegationRefused("a delegated token (act) is never accepted here: UserInfo answers the user")
    if settings.userinfo_audience not in _audiences(claims):
        raise authz.WrongAudience(f"the token is not meant for UserInfo: its aud lacks {settings.userinfo_audience!r}")
    return {"sub": user.id, "preferred_username": user.username, "email": user.email}

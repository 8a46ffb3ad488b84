"""Token introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from identity.deps import RealmDep, TokensDep
from identity.oauth import NO_STORE, OAuthError, authenticate_client, read_form

router = APIRouter(tags=["oauth"])


@router.post("/introspect")
async def introspect(request: Request, realm: RealmDep, tokens: TokensDep) -> JSONResponse:
    """Is this token active, and what does it say? Only confidential clients may ask (RFC 7662 section 2.1).

    A forged, expired, revoked or unknown token is simply `{"active": false}`: the caller learns no reason.
    """
    form = await read_form(request)
    authenticate_client(request, form, realm, allow_public=False)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    claims = await tokens.active_claims(token)
    if claims is None:
        return JSONResponse({"active": False}, headers=NO_STORE)
    body: dict[str, Any] = {"active": True, "token_type": "Bearer", **claims}
    if "preferred_username" in claims:
        body["username"] = claims["preferred_username"]
    return JSONResponse(body, headers=NO_STORE)


@router.post("/revoke")
async def revoke(request: Request, realm: RealmDep, tokens: TokensDep) -> Response:
    """Revoke an access token issued to the calling client (RFC 7009). Unknown or dead tokens: 200 all the same."""
    form = await read_form(request)
    client = authenticate_client(request, form, realm, allow_public=True)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    claims = await tokens.active_claims(token)
    if claims is not None:
        if claims.get("client_id") != client.client_id:
            raise OAuthError("invalid_request", "the token was not issued to this client")
        tokens.revoke(claims)
    return Response(status_code=200, headers=NO_STORE)

"""Token introspection (RFC 7662) and revocation (RFC 7009), for JWTs and the opaque handles standing for them."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from identity import telemetry
from identity.deps import PhantomsDep, RealmDep, TokensDep
from identity.oauth import NO_STORE, OAuthError, authenticate_client, read_form

router = APIRouter(tags=["oauth"])

#: The media type of a JWT (RFC 7519 section 10.3.1): the phantom-token answer of introspection.
JWT_MEDIA_TYPE = "application/jwt"


def wants_jwt(request: Request) -> bool:
    """Did the caller name `application/jwt` in `Accept` (with a q above 0)? Wildcards do not count: a
    caller that does not ask for the JWT by name gets RFC 7662 JSON, as any introspection client expects."""
    for media_range in request.headers.get("accept", "").split(","):
        media_type, *params = (part.strip() for part in media_range.split(";"))
        if media_type.lower() != JWT_MEDIA_TYPE:
            continue
        q = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
        try:
            return float(q) > 0
        except ValueError:
            return False
    return False


@router.post("/introspect")
async def introspect(request: Request, realm: RealmDep, tokens: TokensDep, phantoms: PhantomsDep) -> Response:
    """Is this token active, and what does it say? Only clients the realm allows to introspect
    (`may_introspect`: the gateway) may ask — RFC 7662 section 2.1 leaves the who to the server, and an
    answer that tells any confidential client whose token it is, with what rights, is more than they need.

    A forged, expired, revoked or unknown token is simply `{"active": false}`: the caller learns no reason.
    An opaque handle is answered as the JWT it stands for. A client allowed to resolve phantom tokens (the
    gateway) that sends `Accept: application/jwt` gets that JWT itself as the body of an `application/jwt`
    answer — but only for an active handle: anything else is the JSON `{"active": false}`, so the content
    type alone tells the caller whether the handle was resolved.
    """
    form = await read_form(request)
    caller = authenticate_client(request, form, realm, allow_public=False)
    if not caller.may_introspect:
        # RFC 7662 section 2.3 names 401 only for bad credentials; these are good, the right is missing:
        # 403, with an RFC 6749-style body like every other refusal here.
        raise OAuthError("unauthorized_client", f"client {caller.client_id!r} may not introspect tokens", status=403)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    resolving = caller.may_resolve_phantom_tokens and wants_jwt(request)
    paired_jwt = await phantoms.resolve_in_thread(token)
    claims = await tokens.active_claims(paired_jwt or token)
    # Asked to resolve, a JWT is inactive too: it is no handle, and a client of the phantom mode never holds one.
    active = claims is not None and not (resolving and paired_jwt is None)
    telemetry.record_introspection(caller.client_id, claims if active else None, opaque=paired_jwt is not None)
    if claims is None or not active:
        return JSONResponse({"active": False}, headers=NO_STORE)
    if resolving:
        return Response(paired_jwt, media_type=JWT_MEDIA_TYPE, headers=NO_STORE)
    body: dict[str, Any] = {"active": True, "token_type": "Bearer", **claims}
    if "preferred_username" in claims:
        body["username"] = claims["preferred_username"]
    return JSONResponse(body, headers=NO_STORE)


@router.post("/revoke")
async def revoke(request: Request, realm: RealmDep, tokens: TokensDep, phantoms: PhantomsDep) -> Response:
    """Revoke an access or refresh token issued to the calling client (RFC 7009). Unknown or dead: 200 all the same.

    RFC 7009 section 2.2: an invalid, expired or unknown token is no error (the client's aim, a dead
    token, is met). Section 2.1: the server checks the token was issued to the client asking — another
    client's token is refused (`invalid_request`, 400) and stays active. Revoking an opaque handle revokes
    the `jti` of its JWT, so the handle and the JWT die together.
    """
    form = await read_form(request)
    client = authenticate_client(request, form, realm, allow_public=True)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    # A refresh token: its family ends, with the access tokens it issued (section 2.1 suggests it).
    refresh = await anyio.to_thread.run_sync(request.state.signin.revoke_refresh_token, token, client.client_id)
    if refresh is False:
        raise OAuthError("invalid_request", "the token was not issued to this client")
    if refresh:
        return Response(status_code=200, headers=NO_STORE)
    claims = await tokens.active_claims(await phantoms.resolve_in_thread(token) or token)
    if claims is not None:
        if claims.get("client_id") != client.client_id:
            raise OAuthError("invalid_request", "the token was not issued to this client")
        await tokens.revoke_in_thread(claims)
    return Response(status_code=200, headers=NO_STORE)

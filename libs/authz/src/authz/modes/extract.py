"""`extract`, service side: a user arrives only as the gateway's signed headers, bound to the one request
(method, canonical path and query, body), fresh, and never seen before (its nonce); a bearer token only as
a service's own or a delegated one. No user token reaches the services, so `shares` acting for a user falls
back to its own token plus `X-On-Behalf-Of`, honoured only here and only for the clients listed in
`AUTHZ_ON_BEHALF_OF_CLIENTS` (the trusted subsystem: docs/boundary-modes.md)."""

from __future__ import annotations

from starlette.requests import Request

from authz import _signed_headers as sh
from authz import exceptions as exc
from authz._bearer import bearer_token
from authz._canonical import BadTarget, canonical_target
from authz._mesh import Workload
from authz._principal import Kind, Principal, Source
from authz._settings import AuthzSettings, Mode
from authz.modes._base import InboundContext, ServiceMode, verified


class SignedHeadersForUsers:
    def __init__(self, ctx: InboundContext) -> None:
        s = ctx.settings
        self._verifier = ctx.verifier
        self._key = sh.check_key(s.extract_key.get_secret_value() if s.extract_key else None, "AUTHZ_EXTRACT_KEY")
        self._service = str(s.audience)
        self._max_age = s.extract_max_age_seconds
        self._nonces = sh.NonceCache(s.extract_nonce_cache_size)
        self._on_behalf_of_clients = frozenset(s.on_behalf_of_clients)

    def metrics(self) -> dict[str, float]:
        return {"authz_extract_nonces_held": len(self._nonces)}

    async def principal(self, request: Request, peer: Workload | None) -> Principal:
        headers = request.headers
        if headers.get(sh.SIGNATURE) is not None or headers.get(sh.USER_ID) is not None:
            return await self._signed(request)
        principal = await verified(self._verifier, bearer_token(request), Mode.EXTRACT)
        if principal.kind is Kind.USER and not principal.is_delegated:
            raise exc.NotAuthenticated("in extract mode a user is known only from the gateway's signed headers")
        on_behalf_of = headers.get(sh.ON_BEHALF_OF)
        if on_behalf_of is None:
            return principal
        if principal.kind is not Kind.SERVICE or principal.client_id not in self._on_behalf_of_clients:
            raise exc.WrongClient(f"client {principal.client_id!r} may not act on behalf of a user here")
        # The trusted-subsystem fallback: this client's word that it acts for that user.
        return Principal(
            subject=on_behalf_of,
            kind=Kind.USER,
            client_id=principal.client_id,
            scopes=principal.scopes,
            actor=(str(principal.client_id),),
            audience=principal.audience,
            issuer=principal.issuer,
            token_id=principal.token_id,
            mode=Mode.EXTRACT,
            source=Source.TRUSTED_SUBSYSTEM,
        )

    async def _signed(self, request: Request) -> Principal:
        scope = request.scope
        raw = scope.get("raw_path") or scope["path"].encode()
        try:
            target = canonical_target(raw.decode("latin-1"), scope.get("query_string", b"").decode("latin-1"))
        except BadTarget:
            raise exc.InvalidSignature("the request target has no canonical form, so no signature can match") from None
        # The body is read here and kept by the Request (FastAPI reads the same object's cached body).
        signed = sh.SignedRequest(method=request.method, target=target, body=await request.body())
        verified_signature = sh.verify_identity(
            request.headers, key=self._key, service=self._service, request=signed, max_age_seconds=self._max_age
        )
        # Only a valid signature spends its nonce: an attacker without the key cannot burn anyone's.
        self._nonces.use(verified_signature.nonce, verified_signature.fresh_until)
        identity = verified_signature.identity
        return Principal(
            subject=identity.user_id,
            kind=Kind.USER,
            client_id=None,
            username=identity.username or None,
            roles=frozenset(identity.roles),
            scopes=frozenset(identity.scopes),
            mode=Mode.EXTRACT,
            source=Source.SIGNED_HEADERS,
        )


def _check(settings: AuthzSettings) -> None:
    sh.check_key(settings.extract_key.get_secret_value() if settings.extract_key else None, "AUTHZ_EXTRACT_KEY")


MODE = ServiceMode(
    mode=Mode.EXTRACT,
    summary="the gateway's signed X-User-* headers, bound to the request (method, path, query, body) and "
    "accepted once; never the token",
    settings=("AUTHZ_EXTRACT_KEY",),
    check=_check,
    build=SignedHeadersForUsers,
    trusted_subsystem=True,
)

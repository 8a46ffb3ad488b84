"""FastAPI integration: the `Authenticator` on the app state, and dependencies that demand a right."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

import httpx
from fastapi import Depends, Request

from authz import _signed_headers as sh
from authz import exceptions as exc
from authz._jwks import JwksCache, KeySource
from authz._mesh import Workload, peer_of
from authz._principal import Kind, Principal, Source
from authz._settings import AuthzSettings, Mode
from authz._verify import TokenVerifier, peek_issuer

log = logging.getLogger("authz")

#: The lifespan state key under which a service keeps its `Authenticator` (`request.state.authz`).
STATE_KEY = "authz"


class Authenticator:
    """Turns a request into a `Principal` the way the boundary mode says.

    Build one in the app's `lifespan` with `Authenticator.from_settings(settings, http_client)` and
    yield it in the state under `"authz"`; the dependencies below find it there.
    """

    def __init__(
        self,
        settings: AuthzSettings,
        verifier: TokenVerifier,
        *,
        delegation: Mapping[str, Iterable[str]] | None = None,
        internal: TokenVerifier | None = None,
    ) -> None:
        settings.check_service_mode()
        if settings.mode is Mode.REISSUE and internal is None:
            raise exc.ConfigurationError("reissue mode needs a verifier for the gateway's internal tokens")
        if not settings.audience:
            raise exc.ConfigurationError("AUTHZ_AUDIENCE is not set: a service must name the audience it accepts")
        self.settings = settings
        self.verifier = verifier
        #: `reissue`: the verifier of the gateway's internal tokens (its issuer, its JWKS, this audience).
        self.internal = internal
        #: Which actors may act for a user here, and for which operations: {"shares": {"read", "grant"}}.
        #: A delegated token for anything else is refused (delegation, not a trusted subsystem).
        self.delegation = {actor: frozenset(ops) for actor, ops in (delegation or {}).items()}
        if settings.mode is Mode.TRUST and not settings.mesh:
            log.warning(
                "TRUST MODE WITHOUT THE MESH (AUTHZ_INSECURE_DEMO): tokens are decoded WITHOUT checking their "
                "signature; anyone who can reach this service can forge any user. Demo only."
            )

    @classmethod
    def from_settings(
        cls,
        settings: AuthzSettings,
        client: httpx.AsyncClient | None = None,
        *,
        keys: KeySource | None = None,
        delegation: Mapping[str, Iterable[str]] | None = None,
    ) -> Authenticator:
        """An authenticator whose keys come from the issuer's JWKS over `client`, or from `keys` (the
        issuer itself holds its keys and passes them here)."""
        if keys is None:
            if client is None:
                raise ValueError("from_settings needs an http client to fetch the JWKS, or keys")
            keys = JwksCache.from_settings(client, settings)
        verifier = TokenVerifier.from_settings(keys, settings, audience=settings.audience)
        internal = None
        if settings.mode is Mode.REISSUE:
            settings.check_service_mode()
            if client is None:
                raise ValueError("reissue mode needs an http client to fetch the gateway's JWKS")
            # Not warmed at start-up: the gateway may start after this service; the first internal token
            # fetches it (and an unknown kid after a gateway restart refetches, rate-limited).
            gateway_keys = JwksCache(
                client, jwks_url=settings.gateway_jwks_url, min_refetch_seconds=settings.jwks_min_refetch_seconds
            )
            internal = TokenVerifier(
                gateway_keys,
                issuer=str(settings.gateway_issuer),
                audience=settings.audience,
                algorithms=["ES256"],
                leeway_seconds=settings.leeway_seconds,
                token_types=[t.lower() for t in settings.token_types],
                cache_size=settings.token_cache_size,
            )
        return cls(settings, verifier, delegation=delegation, internal=internal)

    async def warm(self) -> None:
        """Fetch the issuer's keys at start-up (if they come over HTTP) so no request waits for them."""
        warm = getattr(self.verifier.keys, "warm", None)
        if warm is not None:
            await warm()

    def metrics(self) -> dict[str, float]:
        """Counters for `/metrics`: how often the JWKS was fetched, how full the token cache is."""
        counters = {
            "authz_jwks_fetches_total": getattr(self.verifier.keys, "fetch_count", 0),
            "authz_token_cache_entries": self.verifier.cache_entries,
        }
        if self.internal is not None:
            counters["authz_gateway_jwks_fetches_total"] = getattr(self.internal.keys, "fetch_count", 0)
        return counters

    async def authenticate(self, request: Request) -> Principal:
        """The caller, derived as the boundary mode says (docs/boundary-modes.md); with the mesh on, checked
        against the workload that called (the mTLS peer) and carrying it."""
        if not self.settings.mesh:
            return await self._principal(request, peer=None)
        s = self.settings
        peer = peer_of(request.headers.get(sh.CLIENT_CERT), trust_domain=s.mesh_trust_domain,
                       namespace=s.mesh_namespace)  # fmt: skip
        if peer is None:
            raise exc.MalformedPeer("the mesh is on but the request did not come through this service's sidecar")
        principal = await self._principal(request, peer)
        check_peer_agrees(principal, peer, gateway=s.gateway_workload)
        if peer.service_account in self.delegation and not principal.actor:
            # An actor of the delegation table (shares at todos) calls only on behalf of a user.
            raise exc.PeerMismatch(f"{peer.service_account} may call here only with a delegated token")
        return dataclasses.replace(principal, mesh_peer=peer.spiffe_id)

    async def _principal(self, request: Request, peer: Workload | None) -> Principal:
        mode = self.settings.mode
        if mode is Mode.EXTRACT:
            return await self._extract(request)
        token = bearer_token(request)
        if mode is Mode.REISSUE:
            return await self._reissued(token)
        # trust: unverified only for what the gateway sent. Without the mesh that cannot be told (and the
        # service ran only with AUTHZ_INSECURE_DEMO); with it, the mTLS peer says so, and anyone else's token
        # is verified in full.
        if mode is Mode.TRUST and (peer is None or peer.service_account == self.settings.gateway_workload):
            claims = self.verifier.decode_unverified(token)
            return Principal.from_claims(claims, source=Source.UNVERIFIED_TOKEN, mode=mode, token=token)
        claims = await self.verifier.verify(token)
        return Principal.from_claims(claims, source=Source.VERIFIED_TOKEN, mode=mode, token=token)

    async def _reissued(self, token: str) -> Principal:
        # Two issuers, told apart by `iss` and each checked with its own keys: a user comes only as the
        # gateway's internal token for this service; services and delegated calls only from identity.
        assert self.internal is not None  # __init__ made sure
        if peek_issuer(token) == self.settings.gateway_issuer:
            claims = await self.internal.verify(token)
            principal = Principal.from_claims(claims, source=Source.INTERNAL_TOKEN, mode=Mode.REISSUE, token=token)
            if principal.kind is not Kind.USER or principal.is_delegated:
                raise exc.NotAuthenticated("the gateway's internal tokens stand for users only")
            return principal
        claims = await self.verifier.verify(token)
        principal = Principal.from_claims(claims, source=Source.VERIFIED_TOKEN, mode=Mode.REISSUE, token=token)
        if principal.kind is Kind.USER and not principal.is_delegated:
            raise exc.NotAuthenticated("in reissue mode a user's token is accepted only from the gateway")
        return principal

    async def _extract(self, request: Request) -> Principal:
        # A user arrives only as the gateway's signed headers; a bearer token only as a service's own.
        headers = request.headers
        if headers.get(sh.SIGNATURE) is not None or headers.get(sh.USER_ID) is not None:
            assert self.settings.extract_key is not None  # check_service_mode made sure
            identity = sh.verify_identity(
                headers,
                key=self.settings.extract_key.get_secret_value().encode(),
                target=str(self.settings.audience),
                max_age_seconds=self.settings.extract_max_age_seconds,
            )
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
        token = bearer_token(request)
        claims = await self.verifier.verify(token)
        principal = Principal.from_claims(claims, source=Source.VERIFIED_TOKEN, mode=Mode.EXTRACT, token=token)
        if principal.kind is Kind.USER and not principal.is_delegated:
            raise exc.NotAuthenticated("in extract mode a user is known only from the gateway's signed headers")
        on_behalf_of = headers.get(sh.ON_BEHALF_OF)
        if on_behalf_of is None:
            return principal
        if principal.kind is not Kind.SERVICE or principal.client_id not in self.settings.on_behalf_of_clients:
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

    def check_delegation(self, principal: Principal, operation: str | None) -> None:
        """Refuse a delegated call unless its actor may perform `operation` here."""
        if not principal.actor:
            return
        actor = principal.actor[0]
        if operation is None or operation not in self.delegation.get(actor, frozenset()):
            what = f"'{operation}'" if operation else "this"
            raise exc.DelegationRefused(f"{actor} may not do {what} on behalf of a user here")


def check_peer_agrees(principal: Principal, peer: Workload, *, gateway: str) -> None:
    """Mesh identity and token must agree (docs/mesh.md): a user's own token or signed headers come only from
    the gateway; a delegated token only from its actor (`act.sub`); a service's token only from that service."""
    caller = peer.service_account
    if principal.actor:
        expected, what = principal.actor[0], f"a token delegated to {principal.actor[0]!r}"
    elif principal.kind is Kind.SERVICE or principal.source is Source.TRUSTED_SUBSYSTEM:
        expected, what = str(principal.client_id), f"client {principal.client_id!r}'s token"
    else:
        expected, what = gateway, "a user's own token"
    if caller != expected:
        raise exc.PeerMismatch(f"{what} may come only from the {expected} workload, not from {caller}")


def bearer_token(request: Request) -> str:
    """The RFC 6750 section 2.1 bearer token from the Authorization header (the only place we accept one).

    Tokens in the query string are refused on purpose: they end up in logs and browser history.
    """
    values = request.headers.getlist("authorization")
    if not values:
        raise exc.MissingToken()
    if len(values) > 1:
        raise exc.InvalidRequest("more than one Authorization header")
    scheme, _, token = values[0].partition(" ")
    if scheme.lower() != "bearer":
        raise exc.MissingToken("the Authorization header does not carry a Bearer token")
    token = token.strip()
    if not token:
        raise exc.MalformedToken("the Bearer token is empty")
    return token


async def get_principal(request: Request) -> Principal:
    """Dependency: the authenticated caller (401 if there is none)."""
    authenticator: Authenticator = getattr(request.state, STATE_KEY)
    return await authenticator.authenticate(request)


def require(
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    kind: Kind | None = None,
    clients: Iterable[str] | None = None,
    operation: str | None = None,
    delegated_only: bool = False,
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that demands the caller's `kind`, client, delegation, `scopes` and `roles`.

    - `clients`: only these OAuth clients (e.g. `{"reminders"}` for a service endpoint).
    - `operation`: the name under which a delegated call (a token with `act`) may reach this endpoint;
      the service's delegation table says which actor may do which operation. Without it, or for an
      actor the table does not allow, a delegated call is refused.
    - `delegated_only`: a user's own token is refused; only an allowed actor acting for the user passes.

    Use through a named alias in the service's `auth.py`, so handlers read as what they need::

        TodosRead = Annotated[Principal, Depends(authz.require(scopes={"todos:read"}, kind=Kind.USER))]
    """
    needed_scopes = frozenset(scopes)
    needed_roles = frozenset(roles)
    allowed_clients = frozenset(clients) if clients is not None else None

    async def dependency(request: Request, principal: Principal = Depends(get_principal)) -> Principal:  # noqa: B008
        if kind is not None and principal.kind is not kind:
            raise exc.WrongPrincipalKind(f"this endpoint is for a {kind.value}, not a {principal.kind.value}")
        if allowed_clients is not None and principal.client_id not in allowed_clients:
            raise exc.WrongClient(f"client {principal.client_id!r} may not call this endpoint")
        if delegated_only and not principal.actor:
            raise exc.NotDelegated()
        getattr(request.state, STATE_KEY).check_delegation(principal, operation)
        missing = needed_scopes - principal.scopes
        if missing:
            raise exc.MissingScope(missing)
        if needed_roles - principal.roles:
            raise exc.MissingRole(f"this needs the role {' '.join(sorted(needed_roles - principal.roles))}")
        return principal

    dependency.__name__ = f"require_{'_'.join(sorted(needed_scopes | needed_roles)) or 'principal'}"
    return dependency

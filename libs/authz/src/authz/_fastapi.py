"""FastAPI integration: the `Authenticator` on the app state, and dependencies that demand a right."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping

import httpx
from fastapi import Depends, Request

from authz import _signed_headers as sh
from authz import _tracing
from authz import exceptions as exc
from authz._bearer import bearer_token
from authz._jwks import JwksCache, KeySource
from authz._mesh import Workload, peer_of
from authz._principal import Kind, Principal, Source
from authz._settings import AuthzSettings
from authz._verify import TokenVerifier
from authz.modes import Inbound, InboundContext, service_mode

__all__ = ["STATE_KEY", "Authenticator", "bearer_token", "check_peer_agrees", "get_principal", "require"]

#: The lifespan state key under which a service keeps its `Authenticator` (`request.state.authz`).
STATE_KEY = "authz"


class Authenticator:
    """Turns a request into a `Principal` the way the boundary mode says.

    Build one in the app's `lifespan` with `Authenticator.from_settings(settings, http_client)` and
    yield it in the state under `"authz"`; the dependencies below find it there. What the mode changes is
    one module of `authz.modes`, picked here once from the registry.
    """

    def __init__(
        self,
        settings: AuthzSettings,
        verifier: TokenVerifier,
        *,
        delegation: Mapping[str, Iterable[str]] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not settings.audience:
            raise exc.ConfigurationError("AUTHZ_AUDIENCE is not set: a service must name the audience it accepts")
        settings.check_issuers()
        mode = service_mode(settings.mode)
        mode.check(settings)
        self.settings = settings
        self.verifier = verifier
        #: How this service learns who calls, in its mode.
        self.inbound: Inbound = mode.build(InboundContext(settings, verifier, http))
        #: Which actors may act for a user here, and for which operations: {"shares": {"read", "grant"}}.
        #: A delegated token for anything else is refused (delegation, not a trusted subsystem).
        self.delegation = {actor: frozenset(ops) for actor, ops in (delegation or {}).items()}

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
        return cls(settings, verifier, delegation=delegation, http=client)

    async def warm(self) -> None:
        """Fetch the issuer's keys at start-up (if they come over HTTP) so no request waits for them."""
        warm = getattr(self.verifier.keys, "warm", None)
        if warm is not None:
            await warm()

    def metrics(self) -> dict[str, float]:
        """Counters for `/metrics`: how often the JWKS was fetched, how full the token cache is."""
        return {
            "authz_jwks_fetches_total": getattr(self.verifier.keys, "fetch_count", 0),
            "authz_token_cache_entries": self.verifier.cache_entries,
            **self.inbound.metrics(),
        }

    async def authenticate(self, request: Request) -> Principal:
        """The caller, derived as the boundary mode says (docs/boundary-modes.md); with the mesh on, checked
        against the workload that called (the mTLS peer) and carrying it."""
        if not self.settings.mesh:
            return await self.inbound.principal(request, None)
        s = self.settings
        peer = peer_of(request.headers.get(sh.CLIENT_CERT), trust_domain=s.mesh_trust_domain,
                       namespace=s.mesh_namespace)  # fmt: skip
        if peer is None:
            raise exc.MalformedPeer("the mesh is on but the request did not come through this service's sidecar")
        principal = await self.inbound.principal(request, peer)
        check_peer_agrees(principal, peer, gateway=s.gateway_workload)
        if peer.service_account in self.delegation and not principal.actor:
            # An actor of the delegation table (shares at todos) calls only on behalf of a user.
            raise exc.PeerMismatch(f"{peer.service_account} may call here only with a delegated token")
        return dataclasses.replace(principal, mesh_peer=peer.spiffe_id)

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


async def get_principal(request: Request) -> Principal:
    """Dependency: the authenticated caller (401 if there is none)."""
    authenticator: Authenticator = getattr(request.state, STATE_KEY)
    span = _tracing.recording_span()
    if span is None:
        return await authenticator.authenticate(request)
    s = authenticator.settings
    _tracing.record_received(span, request.headers.get("authorization"), request.headers, mode=s.mode.value,
                             contents=s.trace_token_contents)  # fmt: skip
    principal = await authenticator.authenticate(request)
    _tracing.record_principal(span, principal)
    return principal


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

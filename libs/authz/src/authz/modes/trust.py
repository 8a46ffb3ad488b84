"""`trust`, service side: the gateway validated the edge JWT, so a service decodes what the gateway sent
WITHOUT checking its signature (claims still checked). Without the mesh a service cannot tell the gateway
from anyone else, so anyone who reaches it can forge any user: it runs then only as the insecure demo.
With the mesh only the gateway peer's token goes unverified; every other caller's is verified in full."""

from __future__ import annotations

import logging

from starlette.requests import Request

from authz._bearer import bearer_token
from authz._mesh import Workload
from authz._principal import Principal, Source
from authz._settings import AuthzSettings, Mode
from authz.exceptions import ConfigurationError
from authz.modes._base import InboundContext, ServiceMode, no_metrics, verified

log = logging.getLogger("authz")


class TrustTheGateway:
    def __init__(self, ctx: InboundContext) -> None:
        self._verifier = ctx.verifier
        self._gateway = ctx.settings.gateway_workload
        self.metrics = no_metrics
        if not ctx.settings.mesh:
            log.warning(
                "TRUST MODE WITHOUT THE MESH (AUTHZ_INSECURE_DEMO): tokens are decoded WITHOUT checking their "
                "signature; anyone who can reach this service can forge any user. Demo only."
            )

    async def principal(self, request: Request, peer: Workload | None) -> Principal:
        token = bearer_token(request)
        # Unverified only for what the gateway sent. Without the mesh that cannot be told (and the service
        # runs only with AUTHZ_INSECURE_DEMO); with it, the mTLS peer says so.
        if peer is None or peer.service_account == self._gateway:
            claims = self._verifier.decode_unverified(token)
            return Principal.from_claims(claims, source=Source.UNVERIFIED_TOKEN, mode=Mode.TRUST, token=token)
        return await verified(self._verifier, token, Mode.TRUST)


def _check(settings: AuthzSettings) -> None:
    if not (settings.mesh or settings.insecure_demo):
        raise ConfigurationError(
            "trust mode without the mesh accepts any token anyone sends, unverified: turn the mesh on "
            "(AUTHZ_MESH=true), or set AUTHZ_INSECURE_DEMO=true to run it as the demo of what goes wrong"
        )


MODE = ServiceMode(
    mode=Mode.TRUST,
    summary="the edge JWT, decoded without checking its signature (only from the gateway peer, with the mesh)",
    # Nothing of its own: AUTHZ_MESH (or, without the mesh, AUTHZ_INSECURE_DEMO) is `unsafe_without_mesh`.
    settings=(),
    check=_check,
    build=TrustTheGateway,
    unsafe_without_mesh=True,
)

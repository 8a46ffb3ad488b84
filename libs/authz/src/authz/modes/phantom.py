"""`phantom`, service side: the client holds an opaque token, the gateway resolves it to its JWT at
identity, and the services verify that JWT in full, exactly as in `passthrough`. What differs is at the
edge (services/gateway/src/gateway/modes/phantom.py): an opaque token sent straight to a service is not
a JWT, and is refused."""

from __future__ import annotations

from authz._settings import AuthzSettings, Mode
from authz.modes._base import ServiceMode
from authz.modes.passthrough import VerifyEveryToken


def _check(settings: AuthzSettings) -> None:
    """Needs nothing beyond identity's keys."""


MODE = ServiceMode(
    mode=Mode.PHANTOM,
    summary="the JWT the gateway resolved the client's opaque token to, verified fully",
    settings=(),
    check=_check,
    build=lambda ctx: VerifyEveryToken(ctx, Mode.PHANTOM),
)

"""The boundary modes on the service side, one module each, and their registry.

`SERVICE_MODES[mode]` is everything a service does differently in `mode`; `Authenticator` picks it once at
start-up. The gateway's side of each mode is `services/gateway/src/gateway/modes/<mode>.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from authz._settings import Mode
from authz.modes import extract, passthrough, phantom, reissue, trust
from authz.modes._base import Inbound, InboundContext, ServiceMode

SERVICE_MODES: Mapping[Mode, ServiceMode] = MappingProxyType(
    {m.mode: m for m in (trust.MODE, passthrough.MODE, reissue.MODE, extract.MODE, phantom.MODE)}
)


def service_mode(mode: Mode) -> ServiceMode:
    """The service side of `mode`."""
    return SERVICE_MODES[mode]


__all__ = ["SERVICE_MODES", "Inbound", "InboundContext", "ServiceMode", "service_mode"]

"""The boundary modes at the edge, one module each, and their registry.

`GATEWAY_MODES[mode]` is everything the gateway does differently in `mode`; the runtime builds it once at
start-up. The service side of each mode is `libs/authz/src/authz/modes/<mode>.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from authz import Mode
from gateway.modes import extract, passthrough, phantom, reissue, trust
from gateway.modes._base import BuildContext, Edge, EdgeMode, GatewayMode

GATEWAY_MODES: Mapping[Mode, GatewayMode] = MappingProxyType(
    {m.mode: m for m in (trust.MODE, passthrough.MODE, reissue.MODE, extract.MODE, phantom.MODE)}
)


def gateway_mode(mode: Mode) -> GatewayMode:
    """The gateway side of `mode`."""
    return GATEWAY_MODES[mode]


__all__ = ["GATEWAY_MODES", "BuildContext", "Edge", "EdgeMode", "GatewayMode", "gateway_mode"]

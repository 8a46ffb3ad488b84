"""`extract`, at the edge: the token stops here. The service gets who the user is as headers, signed for it
alone (a key per service, at least 32 bytes, never one key for two services) over the request itself —
method, canonical path and query, a SHA-256 of the body — a timestamp and a nonce made here for each
forwarded request (never the client's X-Request-Id, which a client chooses). A service accepts each
nonce once (authz/modes/extract.py), so a captured request can be neither replayed nor changed."""

from __future__ import annotations

import authz
from authz import Mode
from gateway.modes._base import BuildContext, Edge, EdgeMode, GatewayMode


class SignTheRequest:
    def __init__(self, keys: dict[str, bytes], audiences: dict[str, str]) -> None:
        self._keys = keys
        self._audiences = audiences
        #: Requests signed since start.
        self.signed = 0

    async def admit(self, token: str) -> str:
        return token

    async def outbound(self, edge: Edge) -> list[tuple[str, str]]:
        p = edge.principal
        identity = authz.SignedIdentity(
            user_id=p.subject, username=p.username or "", roles=tuple(sorted(p.roles)), scopes=tuple(sorted(p.scopes))
        )
        request = authz.SignedRequest(method=edge.method, target=edge.target, body=edge.body)
        signed = authz.sign_identity(
            identity, key=self._keys[edge.service], service=self._audiences[edge.service], request=request
        )
        self.signed += 1
        return list(signed.items())

    def metrics(self) -> dict[str, float]:
        return {"gateway_requests_signed_total": self.signed}

    def jwks(self) -> None:
        return None


def keys_from(settings_keys: dict[str, str], services: list[str]) -> dict[str, bytes]:
    """A checked key per routed service: present, at least 32 bytes, and no key shared by two services
    (a service holding it could otherwise sign for the other)."""
    missing = [s for s in services if s not in settings_keys]
    if missing:
        raise authz.ConfigurationError(f"extract mode needs GATEWAY_EXTRACT_KEYS for {', '.join(missing)}")
    keys = {s: authz.check_key(settings_keys[s], f"GATEWAY_EXTRACT_KEYS[{s}]") for s in services}
    holders: dict[bytes, str] = {}
    for service, key in keys.items():
        if key in holders:
            raise authz.ConfigurationError(
                f"GATEWAY_EXTRACT_KEYS gives {holders[key]} and {service} the same key: one key per service"
            )
        holders[key] = service
    return keys


async def _build(ctx: BuildContext) -> EdgeMode:
    s = ctx.settings
    services = list(s.upstreams)
    keys = keys_from({name: key.get_secret_value() for name, key in s.extract_keys.items()}, services)
    return SignTheRequest(keys, {service: s.audience(service) for service in services})


MODE = GatewayMode(
    mode=Mode.EXTRACT,
    summary="validates and strips the edge JWT; sends X-User-Id / X-User-Name / X-Roles / X-Scopes with an HMAC "
    "(a key per service) over them, the target service, the method, the canonical path and query, a SHA-256 "
    "of the body, a timestamp and a nonce",
    settings=("GATEWAY_EXTRACT_KEYS",),
    build=_build,
)

"""OpenID Connect discovery, read one way: a client needs only the issuer's URL to find the rest.

Ref: OpenID Connect Discovery 1.0 section 4 (https://openid.net/specs/openid-connect-discovery-1_0.html)
and RFC 8414 section 3 (the same metadata for OAuth 2.0 authorization servers).
"""

from __future__ import annotations

import httpx


class DiscoveryError(ValueError):
    """The discovery document could not be read, or does not name the endpoint asked for."""


async def discover_endpoint(http: httpx.AsyncClient, discovery_url: str, name: str) -> str:
    """The URL the issuer's discovery document gives for `name` (`jwks_uri`, `token_endpoint`,
    `introspection_endpoint`, ...). Raises `DiscoveryError` naming what went wrong (never the document)."""
    try:
        response = await http.get(discovery_url)
        response.raise_for_status()
        metadata = response.json()
    except httpx.HTTPError as e:
        raise DiscoveryError(f"the discovery document at {discovery_url} could not be read: {type(e).__name__}") from e
    except ValueError as e:
        raise DiscoveryError(f"the discovery document at {discovery_url} is not JSON") from e
    endpoint = metadata.get(name) if isinstance(metadata, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        raise DiscoveryError(f"the discovery document at {discovery_url} names no {name}")
    return endpoint

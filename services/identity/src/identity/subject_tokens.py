"""Which tokens identity accepts as RFC 8693 subject tokens: its own, and those of issuers it is told to trust.

In the `reissue` boundary mode a service holds only the gateway's internal token for the user (`iss` = the
gateway). To act for that user further in (shares calling todos), it exchanges that token here, so identity
must accept it: `IDENTITY_TRUSTED_SUBJECT_ISSUERS` maps each such issuer to its JWKS URL, and its tokens are
verified with its keys (signature, `iss`, times). RFC 8693 section 2.1 leaves to the server which subject
tokens it accepts; this is that policy, made explicit. Revocation cannot reach a foreign token: the gateway's
tokens live seconds, which is what bounds them.
"""

from __future__ import annotations

from typing import Any

import httpx

from authz import AuthzError, JwksCache, TokenVerifier, peek_issuer
from identity.tokens import TokenService


class SubjectTokens:
    def __init__(
        self, tokens: TokenService, trusted: dict[str, str], client: httpx.AsyncClient | None, *, leeway: int
    ) -> None:
        if trusted and client is None:
            raise ValueError("trusted subject issuers need an http client for their JWKS")
        self._tokens = tokens
        self._foreign = {
            issuer: TokenVerifier(
                JwksCache(client, jwks_url=jwks_url),  # type: ignore[arg-type]
                issuer=issuer,
                # Any audience: the exchange itself checks that the token names the requesting client.
                audience=None,
                algorithms=["ES256", "RS256"],
                leeway_seconds=leeway,
                cache_size=0,
                clock=tokens.now,
            )
            for issuer, jwks_url in trusted.items()
        }

    async def active_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an active subject token, or None (forged, expired, revoked, from an untrusted issuer)."""
        try:
            verifier = self._foreign.get(peek_issuer(token) or "")
        except AuthzError:
            return None
        if verifier is None:
            return await self._tokens.active_claims(token)
        try:
            return await verifier.verify(token)
        except AuthzError:
            return None

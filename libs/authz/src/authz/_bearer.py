"""The bearer token of a request: RFC 6750 section 2.1, the Authorization header only."""

from __future__ import annotations

from starlette.requests import Request

from authz import exceptions as exc


def bearer_token(request: Request) -> str:
    """The RFC 6750 section 2.1 bearer token from the Authorization header (the only place we accept one).

    Tokens in the query string are refused on purpose: they end up in logs and browser history.
    """
    return bearer_token_of(request.headers.getlist("authorization"))


def bearer_token_of(values: list[str]) -> str:
    """The bearer token from the request's Authorization header values, in the order sent (the gateway reads
    them from the ASGI scope itself, without building a Starlette request)."""
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

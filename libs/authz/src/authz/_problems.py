"""RFC 9457 problem details for every error a service returns.

Ref: https://www.rfc-editor.org/rfc/rfc9457. The `type` is a URN naming the failed check
(`urn:todo-suite:problem:expired-token`), stable for clients to match on; `detail` says it in words.
No stack trace, exception text of an unexpected error, or raw token ever reaches a client.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from authz import _tracing
from authz._client import OutboundAuthError
from authz.exceptions import AuthzError, MissingScope

log = logging.getLogger("authz.problems")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:todo-suite:problem:"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem(
    status: int,
    slug: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    """Build a problem-details response. `slug` names the failed check; it becomes the `type` URN."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return ProblemResponse(body, status_code=status, headers=headers)


def _quoted(value: str) -> str:
    # RFC 6750 section 3: error_description is a quoted-string without `"` or `\`.
    return re.sub(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]", "", value)


def www_authenticate(error: AuthzError, realm: str) -> str | None:
    """The RFC 6750 challenge for a refusal (None where a 403 is about a role, not the token)."""
    if error.status_code != 401 and error.oauth_error is None:
        return None
    parts = [f'realm="{_quoted(realm)}"']
    if error.oauth_error:
        parts.append(f'error="{error.oauth_error}"')
        parts.append(f'error_description="{_quoted(error.detail)}"')
    if isinstance(error, MissingScope):
        parts.append(f'scope="{" ".join(sorted(error.missing))}"')
    return "Bearer " + ", ".join(parts)


def authz_error_response(error: AuthzError, *, realm: str, instance: str | None = None) -> ProblemResponse:
    challenge = www_authenticate(error, realm)
    return problem(
        error.status_code,
        error.slug,
        error.detail,
        instance=instance,
        headers={"WWW-Authenticate": challenge} if challenge else None,
    )


def install_problem_handlers(app: FastAPI, *, realm: str) -> None:
    """Render every error of `app` as problem details: auth refusals, HTTP errors, 422s, a failed call
    to another service (502/504) and crashes (500).

    `realm` names the protected resource in `WWW-Authenticate` challenges (the service's name).
    """

    async def on_authz_error(request: Request, error: Exception) -> ProblemResponse:
        assert isinstance(error, AuthzError)
        log.info("refused %s %s: %s", request.method, request.url.path, error.slug)
        span = _tracing.recording_span()
        if span is not None:
            _tracing.record_refusal(span, error, problem_type=TYPE_PREFIX + error.slug)
        return authz_error_response(error, realm=realm, instance=request.url.path)

    async def on_http_error(request: Request, error: Exception) -> ProblemResponse:
        assert isinstance(error, StarletteHTTPException)
        phrase = HTTPStatus(error.status_code).phrase
        slug = phrase.lower().replace(" ", "-")
        given: object = error.detail  # typed str, but FastAPI's HTTPException takes any JSON value
        detail = given if isinstance(given, str) and given != phrase else None
        return problem(error.status_code, slug, detail, instance=request.url.path, headers=error.headers)

    async def on_validation_error(request: Request, error: Exception) -> ProblemResponse:
        assert isinstance(error, RequestValidationError)
        # The input itself is not echoed back: it may hold a secret, and the location says enough.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in error.errors()]
        return problem(422, "validation-error", "the request is malformed", instance=request.url.path, errors=errors)

    async def on_outbound_auth_error(request: Request, error: Exception) -> ProblemResponse:
        log.warning("outbound token refused on %s %s: %s", request.method, request.url.path, error)
        return problem(
            502,
            "upstream-auth-failed",
            "this service could not get a token to call another one",
            instance=request.url.path,
        )

    async def on_upstream_error(request: Request, error: Exception) -> ProblemResponse:
        log.warning("upstream call failed on %s %s: %r", request.method, request.url.path, error)
        if isinstance(error, httpx.TimeoutException):
            return problem(
                504,
                "upstream-timeout",
                "a service this one depends on did not answer in time",
                instance=request.url.path,
            )
        return problem(
            502, "upstream-unavailable", "a service this one depends on could not be reached", instance=request.url.path
        )

    async def on_unexpected(request: Request, error: Exception) -> ProblemResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return problem(
            500, "internal-error", "an unexpected error occurred; it has been logged", instance=request.url.path
        )

    app.add_exception_handler(AuthzError, on_authz_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(OutboundAuthError, on_outbound_auth_error)
    app.add_exception_handler(httpx.HTTPError, on_upstream_error)
    app.add_exception_handler(Exception, on_unexpected)

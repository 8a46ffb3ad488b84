"""Auth facts on the current server span: what a hop received, who it concluded the caller was, and why it
refused. The attribute names are a contract (docs/observability.md): the token journey view reads them.

Only the OpenTelemetry API is used: without an SDK (or with `OTEL_SDK_DISABLED=true`) every span is a
non-recording one and each function returns at its first line. Never a raw token, never a signature.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jwt
from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from authz import _signed_headers as sh
from authz._principal import Principal
from authz.exceptions import AuthzError

#: The attribute names, in one place (docs/observability.md, "Auth attributes").
MODE = "auth.mode"
HOP = "auth.hop"
CREDENTIAL = "auth.credential"
DECISION = "auth.decision"
SUBJECT = "auth.subject"
KIND = "auth.kind"
CLIENT_ID = "auth.client_id"
ACTOR = "auth.actor"
AUDIENCE = "auth.audience"
SCOPES = "auth.scopes"
MESH_PEER = "auth.mesh_peer"
SOURCE = "auth.source"
PROBLEM_TYPE = "auth.problem.type"
PROBLEM_STATUS = "auth.problem.status"
PROBLEM_DETAIL = "auth.problem.detail"
#: Development only (`AUTHZ_TRACE_TOKEN_CONTENTS`): JSON text, the signature left out.
TOKEN_HEADER = "auth.token.header"
TOKEN_CLAIMS = "auth.token.claims"
SIGNED_HEADERS = "auth.signed_headers"

ALLOWED = "allowed"
REFUSED = "refused"


def recording_span() -> Span | None:
    """The current span if it records (the server span, in a request), else None: callers stop there."""
    span = trace.get_current_span()
    return span if span.is_recording() else None


def credential_of(authorization: str | None, headers: Mapping[str, str]) -> tuple[str, str | None]:
    """What the request carried, by shape only: `jwt`, `opaque`, `signed_headers` or `none`, and the
    bearer token (for the development contents; never recorded itself)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            return ("jwt" if token.count(".") == 2 else "opaque"), token
    if sh.SIGNATURE in headers:
        return "signed_headers", None
    return "none", None


def record_received(
    span: Span, authorization: str | None, headers: Mapping[str, str], *, mode: str, contents: bool
) -> None:
    """What this hop received, in which boundary mode; with `contents` (development only) the token's
    decoded header and claims, or the signed identity headers, so the journey view can show them."""
    kind, token = credential_of(authorization, headers)
    span.set_attributes({MODE: mode, CREDENTIAL: kind})
    if not contents:
        return
    if kind == "jwt" and token is not None:
        try:
            # Only to show it: nothing is decided from these (the verifier does that); the signature is dropped.
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return
        span.set_attribute(TOKEN_HEADER, json.dumps(header, sort_keys=True))
        span.set_attribute(TOKEN_CLAIMS, json.dumps(claims, sort_keys=True))
    elif kind == "signed_headers":
        shown = {name: value for name, value in headers.items() if sh.is_identity_header(name)
                 and name not in (sh.SIGNATURE, sh.CLIENT_CERT)}  # fmt: skip
        span.set_attribute(SIGNED_HEADERS, json.dumps(shown, sort_keys=True))


def record_principal(span: Span, principal: Principal, *, hop: str = "service") -> None:
    """Who this hop concluded the caller is. `subject` is the opaque `sub`, never a username."""
    attributes: dict[str, AttributeValue] = {
        HOP: hop,
        MODE: principal.mode.value,
        DECISION: ALLOWED,
        SUBJECT: principal.subject,
        KIND: principal.kind.value,
        SOURCE: principal.source.value,
        ACTOR: list(principal.actor),
        AUDIENCE: list(principal.audience),
        SCOPES: sorted(principal.scopes),
    }
    if principal.client_id is not None:
        attributes[CLIENT_ID] = principal.client_id
    if principal.mesh_peer is not None:
        attributes[MESH_PEER] = principal.mesh_peer
    span.set_attributes(attributes)


def record_refusal(span: Span, error: AuthzError, *, problem_type: str) -> None:
    """Why this hop refused: the problem type it answered with (RFC 9457), its status and detail."""
    span.set_attributes({
        DECISION: REFUSED,
        PROBLEM_TYPE: problem_type,
        PROBLEM_STATUS: error.status_code,
        PROBLEM_DETAIL: error.detail,
    })  # fmt: skip

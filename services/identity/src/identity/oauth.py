"""OAuth 2.0 protocol pieces: RFC 6749 errors and client authentication at the token endpoint."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from fastapi import Request
from fastapi.responses import JSONResponse

from identity.realm import Client, Realm

#: RFC 6749 section 5.1: token responses (and errors) must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An error answered as RFC 6749 section 5.2 says: `{"error": ..., "error_description": ...}`.

    Ref: https://www.rfc-editor.org/rfc/rfc6749#section-5.2
    """

    def __init__(self, error: str, description: str, *, status: int = 400, basic_challenge: bool = False) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.basic_challenge = basic_challenge

    def response(self, realm: str) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.basic_challenge:
            headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status, headers=headers
        )


def invalid_client(description: str) -> OAuthError:
    # RFC 6749 section 5.2: 401 for a failed client authentication, with a challenge when the client
    # used the Authorization header (we always send one: it tells a curl user what to do).
    return OAuthError("invalid_client", description, status=401, basic_challenge=True)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client("client authentication must use HTTP Basic or client_secret_post")
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("the Basic credentials are not valid base64") from None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise invalid_client("the Basic credentials have no ':'")
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(request: Request, form: dict[str, str], realm: Realm, *, allow_public: bool) -> Client:
    """Authenticate the calling client by `client_secret_basic`, `client_secret_post`, or (for a public
    client, where `allow_public`) by its `client_id` alone. Exactly one method may be used."""
    basic = _basic_credentials(request)
    secret: str | None
    if basic and ("client_secret" in form):
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    if basic:
        client_id, secret = basic
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
    if not client_id:
        raise invalid_client("client authentication is required")
    client = realm.clients.get(client_id)
    if client is None:
        raise invalid_client("unknown client")
    if client.public:
        if secret:
            raise invalid_client("a public client has no secret")
        if not allow_public:
            raise invalid_client("a public client may not call this endpoint")
        return client
    if secret is None or not client.check_secret(secret):
        raise invalid_client("client authentication failed")
    return client


class OAuthForm(dict[str, str]):
    """An OAuth endpoint's form, parsed: each parameter once, by name (a parameter sent twice is an error,
    RFC 6749 section 3.2), plus the target parameters, which may repeat: `audience` (RFC 8693 section 2.1)
    and `resource` (RFC 8707 section 2), in the order sent."""

    def __init__(self, fields: dict[str, str], *, audiences: list[str], resources: list[str]) -> None:
        super().__init__(fields)
        self.audiences = audiences
        self.resources = resources

    @property
    def targets(self) -> list[str]:
        """Every `audience` and `resource` value, empty ones included (the caller decides what they mean)."""
        return self.audiences + self.resources


async def read_form(request: Request) -> OAuthForm:
    """The request's form (RFC 6749 requires application/x-www-form-urlencoded), as an `OAuthForm`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    form = await request.form()
    fields: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) > 1 and key not in ("audience", "resource"):
            raise OAuthError("invalid_request", f"parameter {key!r} was sent more than once")
        fields[key] = str(values[0])
    return OAuthForm(
        fields,
        audiences=[str(v) for v in form.getlist("audience")],
        resources=[str(v) for v in form.getlist("resource")],
    )

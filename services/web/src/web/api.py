"""Calls to the API through the gateway (`/api/<service>/…`) with the signed-in user's access token.

The token is refreshed shortly before it expires, and once more if the gateway answers 401 (it may have
been revoked or have expired on the way); the rotated refresh token replaces the old one. Every problem
document (RFC 9457) becomes an `ApiError` with a sentence a person can read.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from servicekit import in_thread
from web import sessions
from web.models import WebSession, utcnow
from web.oidc import Identity, SignInError
from web.settings import Settings

#: What the person reads for each refusal. 403 on a todo is the one the demo is about: shared with you
#: (you may see it) but not yours (you may not change it).
MESSAGES = {
    400: "The request was not understood.",
    401: "Your session has ended. Please sign in again.",
    403: "You may not do this.",
    404: "Not found: it does not exist, or it is not shared with you.",
    409: "That was done already.",
    422: "Some of what you entered is not valid.",
    429: "Too many requests; please wait a moment.",
    503: "The service is unavailable right now; please try again.",
}
TODO_FORBIDDEN = "You may see this todo but not change it: it was shared with you, and only its owner can change it."


class ApiError(Exception):
    """The API refused or could not answer: `message` is for the person, `status` for the page's status."""

    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


class SessionEnded(ApiError):
    """The tokens are gone (refresh refused): the person must sign in again."""

    def __init__(self) -> None:
        super().__init__(401, MESSAGES[401])


class _Locks:
    """One refresh at a time per session: two rotations racing would present the same refresh token twice,
    which identity takes as theft and answers by ending the whole family."""

    def __init__(self, size: int = 10_000) -> None:
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self._size = size

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.pop(key, None) or asyncio.Lock()
        self._locks[key] = lock
        while len(self._locks) > self._size:
            self._locks.popitem(last=False)
        return lock


REFRESH_LOCKS = _Locks()


def readable(status: int, body: dict[str, Any] | None) -> ApiError:
    detail = str((body or {}).get("detail") or "")
    message = MESSAGES.get(status, "Something went wrong on the server; please try again.")
    if status == 422 and detail:
        message = f"{message} ({detail})"
    return ApiError(status, message, detail)


class Api:
    """The API for one signed-in session."""

    def __init__(
        self, http: httpx.AsyncClient, engine: Engine, identity: Identity, settings: Settings, row: WebSession
    ) -> None:
        self._http = http
        self._engine = engine
        self._identity = identity
        self._settings = settings
        self.row = row

    async def _refresh(self, stale: str | None) -> None:
        async with REFRESH_LOCKS(self.row.id):
            fresh = await in_thread(sessions.get, self._engine, self.row.id)
            if fresh is not None and fresh.access_token != stale:
                self.row = fresh  # another request of this session refreshed meanwhile
                return
            if not self.row.refresh_token:
                raise SessionEnded()
            try:
                tokens = await self._identity.refresh(self.row.refresh_token)
            except (SignInError, httpx.HTTPError):
                await in_thread(sessions.remove, self._engine, self.row.id)
                raise SessionEnded() from None
            self.row.access_token = tokens.access_token
            self.row.access_expires_at = utcnow() + timedelta(seconds=tokens.expires_in)
            self.row.refresh_token = tokens.refresh_token or self.row.refresh_token
            await in_thread(sessions.save, self._engine, self.row)

    def _expiring(self) -> bool:
        expires = self.row.access_expires_at
        return expires is None or expires - utcnow() < timedelta(seconds=self._settings.refresh_margin_seconds)

    async def call(self, method: str, path: str, *, json: dict[str, Any] | None = None) -> Any:
        """`await api.call("GET", "/todos")`: the JSON answer, None for 204; `ApiError` for a refusal."""
        if self._expiring():
            await self._refresh(self.row.access_token)
        response = await self._send(method, path, json)
        if response.status_code == 401:
            await self._refresh(self.row.access_token)
            response = await self._send(method, path, json)
            if response.status_code == 401:
                raise SessionEnded()
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise readable(response.status_code, body if isinstance(body, dict) else None)
        return None if response.status_code == 204 else response.json()

    async def fresh_tokens(self) -> WebSession:
        """The session with an access token that will not expire on the way (refreshed if need be)."""
        if self._expiring():
            await self._refresh(self.row.access_token)
        return self.row

    async def send_as_is(self, method: str, path: str, token: str, headers: dict[str, str]) -> httpx.Response:
        """One request to the gateway with exactly this credential (the attack panel): no refresh, no retry."""
        try:
            url = f"{self._settings.gateway_url}/api{path}"
            return await self._http.request(method, url, headers={"Authorization": f"Bearer {token}", **headers})
        except httpx.HTTPError:
            raise ApiError(503, MESSAGES[503]) from None

    async def _send(self, method: str, path: str, json: dict[str, Any] | None) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                f"{self._settings.gateway_url}/api{path}",
                json=json,
                headers={"Authorization": f"Bearer {self.row.access_token}"},
            )
        except httpx.HTTPError:
            raise ApiError(503, MESSAGES[503]) from None

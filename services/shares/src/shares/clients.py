"""What shares asks of other services, and with which token.

- `Todos`: every call is made on behalf of the user, with a token from RFC 8693 token exchange (`sub` is
  the user, `act.sub` is shares, `aud` is todos only). shares never calls todos with its own identity,
  so it can do nothing there that the user could not, and todos decides every access itself.
- `Directory`: identity's user directory, with shares' own client-credentials token (`users:read`):
  turning a username into the grantee's `sub` is not something the user's token is for.

A grant or a revocation returns todos' answer for the route to judge; a read raises a 502 when the
answer is not one it can use.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import HTTPException, status
from pydantic import BaseModel, ValidationError

import authz
from authz import Principal
from shares.settings import Settings

log = logging.getLogger("shares.clients")

#: Scopes of the exchanged tokens: narrowed from the user's own, one set per kind of call.
GRANT_SCOPE = "todos:read todos:share"
READ_SCOPE = "todos:read"


class DirectoryUser(BaseModel):
    id: str
    username: str
    email: str | None = None


class _DirectoryPage(BaseModel):
    data: list[DirectoryUser]
    count: int


class TodosPage(BaseModel):
    """A page of todos as todos returned them: each one is passed on unchanged."""

    data: list[dict[str, Any]]
    count: int


def bad_gateway(what: str, response: httpx.Response | None = None) -> HTTPException:
    # The other service's body is not passed on: it is about its caller (shares), not about ours.
    if response is not None:
        log.warning("%s: %s %s answered %s", what, response.request.method, response.request.url, response.status_code)
        # Unavailable (its database restarting, say) is passed on as such: the caller may retry.
        if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            retry_after = {"Retry-After": response.headers.get("Retry-After", "2")}
            return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, what, headers=retry_after)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, what)


class Todos:
    """todos, called for the user of a `Principal`: delegation by token exchange; in the `extract` mode,
    where shares receives no user token, the trusted-subsystem fallback (see authz.OAuthClient.for_user)."""

    def __init__(self, http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> None:
        self._http = http
        self._oauth = oauth
        self._base = settings.todos_url.rstrip("/")
        self._audience = settings.todos_audience

    def _on_behalf_of(self, principal: Principal, scope: str) -> httpx.Auth:
        return self._oauth.for_user(principal, self._audience, scope)

    def _grant_url(self, todo_id: uuid.UUID, grantee_id: str) -> str:
        return f"{self._base}/todos/{todo_id}/grants/{quote(grantee_id, safe='')}"

    async def grant(self, principal: Principal, todo_id: uuid.UUID, grantee_id: str) -> httpx.Response:
        """PUT the grant: 201 made, 200 already there; 404 not visible, 403 not the owner, 422 invalid."""
        return await self._http.put(
            self._grant_url(todo_id, grantee_id), auth=self._on_behalf_of(principal, GRANT_SCOPE)
        )

    async def revoke(self, principal: Principal, todo_id: uuid.UUID, grantee_id: str) -> httpx.Response:
        """DELETE the grant: 204 removed; 404 no such grant (or todo not visible), 403 not the owner."""
        return await self._http.delete(
            self._grant_url(todo_id, grantee_id), auth=self._on_behalf_of(principal, GRANT_SCOPE)
        )

    async def owner_of(self, principal: Principal, todo_id: uuid.UUID) -> str | None:
        """The owner of a todo the user may see (their own, or shared with them); None if they may not."""
        response = await self._http.get(f"{self._base}/todos/{todo_id}", auth=self._on_behalf_of(principal, READ_SCOPE))
        if response.status_code == status.HTTP_404_NOT_FOUND:
            return None
        if response.status_code != status.HTTP_200_OK:
            raise bad_gateway("todos did not say whether you may see this todo", response)
        try:
            return str(response.json()["owner_id"])
        except (ValueError, KeyError, TypeError):
            raise bad_gateway("todos answered with a todo shares cannot read", response) from None

    async def shared_with_me(self, principal: Principal, *, offset: int, limit: int) -> TodosPage:
        """The todos shared with the user, as todos pages them."""
        response = await self._http.get(
            f"{self._base}/todos/shared",
            params={"offset": offset, "limit": limit},
            auth=self._on_behalf_of(principal, READ_SCOPE),
        )
        if response.status_code != status.HTTP_200_OK:
            raise bad_gateway("todos did not list the todos shared with you", response)
        try:
            page = TodosPage.model_validate_json(response.content)
            for todo in page.data:
                uuid.UUID(str(todo["id"]))
        except (ValidationError, KeyError, ValueError):
            raise bad_gateway("todos answered with a page shares cannot read", response) from None
        return page


class Directory:
    """identity's user directory, asked with shares' own token."""

    def __init__(self, http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> None:
        self._http = http
        self._url = settings.directory_endpoint
        self._auth = oauth.client_credentials(settings.identity_audience, "users:read")

    async def find(self, username: str) -> DirectoryUser | None:
        """The user with exactly this username, or None."""
        response = await self._http.get(self._url, params={"username": username}, auth=self._auth)
        if response.status_code != status.HTTP_200_OK:
            raise bad_gateway("the user directory did not answer", response)
        try:
            page = _DirectoryPage.model_validate_json(response.content)
        except ValidationError:
            raise bad_gateway("the user directory answered with something shares cannot read", response) from None
        return next((user for user in page.data if user.username == username), None)

"""What shares asks of other services, and with which token.

- `TodosClient`: every call is made on behalf of the user, with a token from RFC 8693 token exchange (`sub`
  is the user, `act.sub` is shares, `aud` is todos only). shares never calls todos with its own identity,
  so it can do nothing there that the user could not, and todos decides every access itself.
- the user directory (`servicekit.directory.DirectoryClient`), with shares' own client-credentials token
  (`users:read`): turning a username into the grantee's `sub` is not something the user's token is for.

todos' refusals come back as the domain errors of `shares.errors`; any answer outside todos' contract
raises `servicekit.UpstreamError` (502), an unreachable todos its `httpx.HTTPError`.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

import authz
from authz import Principal
from servicekit.directory import DirectoryClient
from servicekit.upstream import UpstreamError
from shares.errors import GrantInvalid, NotTodoOwner, TodoNotVisible
from shares.settings import Settings

#: Scopes of the exchanged tokens: narrowed from the user's own, one set per kind of call.
GRANT_SCOPE = "todos:read todos:share"
READ_SCOPE = "todos:read"


class TodosPage(BaseModel):
    """A page of todos as todos returned them: each one is passed on unchanged."""

    data: list[dict[str, Any]]
    count: int


class TodosClient:
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

    async def grant(self, principal: Principal, todo_id: uuid.UUID, grantee_id: str) -> None:
        """PUT the grant (201 made, 200 already there). Raises `TodoNotVisible` (404), `NotTodoOwner` (403),
        `GrantInvalid` (422)."""
        response = await self._http.put(
            self._grant_url(todo_id, grantee_id), auth=self._on_behalf_of(principal, GRANT_SCOPE)
        )
        if response.status_code in (httpx.codes.OK, httpx.codes.CREATED):
            return
        refusal = {404: TodoNotVisible, 403: NotTodoOwner, 422: GrantInvalid}.get(response.status_code)
        if refusal is not None:
            raise refusal()
        raise UpstreamError("todos did not make the grant", response)

    async def revoke(self, principal: Principal, todo_id: uuid.UUID, grantee_id: str) -> None:
        """DELETE the grant: 204 removed, 404 already gone (or the todo no longer visible), both fine.
        Raises `NotTodoOwner` (403)."""
        response = await self._http.delete(
            self._grant_url(todo_id, grantee_id), auth=self._on_behalf_of(principal, GRANT_SCOPE)
        )
        if response.status_code in (httpx.codes.NO_CONTENT, httpx.codes.NOT_FOUND):
            return
        if response.status_code == httpx.codes.FORBIDDEN:
            raise NotTodoOwner("todos does not let you change this todo's grants")
        raise UpstreamError("todos did not revoke the grant", response)

    async def owner_of(self, principal: Principal, todo_id: uuid.UUID) -> str | None:
        """The owner of a todo the user may see (their own, or shared with them); None if they may not."""
        response = await self._http.get(f"{self._base}/todos/{todo_id}", auth=self._on_behalf_of(principal, READ_SCOPE))
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise UpstreamError("todos did not say whether you may see this todo", response)
        try:
            return str(response.json()["owner_id"])
        except (ValueError, KeyError, TypeError):
            raise UpstreamError("todos answered with a todo shares cannot read", response) from None

    async def shared_with_me(self, principal: Principal, *, offset: int, limit: int) -> TodosPage:
        """The todos shared with the user, as todos pages them."""
        response = await self._http.get(
            f"{self._base}/todos/shared",
            params={"offset": offset, "limit": limit},
            auth=self._on_behalf_of(principal, READ_SCOPE),
        )
        if response.status_code != httpx.codes.OK:
            raise UpstreamError("todos did not list the todos shared with you", response)
        try:
            page = TodosPage.model_validate_json(response.content)
            for todo in page.data:
                uuid.UUID(str(todo["id"]))
        except (ValidationError, KeyError, ValueError):
            raise UpstreamError("todos answered with a page shares cannot read", response) from None
        return page


def directory(http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> DirectoryClient:
    """identity's user directory, where `settings` say it is, asked with shares' own token."""
    return DirectoryClient(http, oauth, url=settings.directory_endpoint, audience=settings.identity_audience)

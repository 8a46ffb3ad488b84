"""What reminders asks of other services, always as itself (client credentials), never for a user.

- `TodosClient`: todos' due-soon query (scope `todos:due:read`, the only thing reminders may read there).
- the user directory (`servicekit.directory.DirectoryClient`, scope `users:read`): an owner's e-mail address.

Each token is fetched once and reused until shortly before it expires (`authz.OAuthClient`). A todos that
answers outside its contract raises `servicekit.UpstreamError`; an unreachable one its `httpx.HTTPError`.
"""

from __future__ import annotations

import logging

import httpx
from pydantic import ValidationError

import authz
from reminders.models import DueTodo, DueTodos
from reminders.settings import Settings
from servicekit.directory import DirectoryClient
from servicekit.upstream import UpstreamError

log = logging.getLogger("reminders")

#: The one scope reminders asks todos for.
DUE_SCOPE = "todos:due:read"


class TodosClient:
    """todos' due-soon query, with reminders' own token."""

    def __init__(self, http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> None:
        self._http = http
        self._url = f"{settings.todos_url.rstrip('/')}/todos/due"
        self._window = settings.window_seconds
        self._auth = oauth.client_credentials(settings.todos_audience, DUE_SCOPE)

    async def due_soon(self) -> list[DueTodo]:
        """The todos of every user falling due within `window_seconds`."""
        response = await self._http.get(self._url, params={"within_seconds": self._window}, auth=self._auth)
        response.raise_for_status()  # an httpx.HTTPError: a 502 problem for the caller of /reminders/run
        try:
            due = DueTodos.model_validate_json(response.content)
        except ValidationError as e:
            raise UpstreamError("todos answered the due-soon query with an unexpected body") from e
        if due.count > len(due.data):
            log.warning(
                "todos reported %d due todos but listed %d; the rest wait for the next run", due.count, len(due.data)
            )
        return due.data


def directory(http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> DirectoryClient:
    """identity's user directory, where `settings` say it is, asked with reminders' own token."""
    return DirectoryClient(http, oauth, url=settings.directory_endpoint, audience=settings.identity_audience)

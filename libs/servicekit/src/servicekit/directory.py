"""identity's user directory, asked by a service with its own client-credentials token (`users:read`).

Turning a username into a `sub` (shares) or a `sub` into an e-mail address (reminders) is something the
service does as itself: a user's token is not for reading other users. Written once here so every
caller reads the same shape (`DirectoryUser`) from the same place (`directory_url`).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

import authz
from servicekit.upstream import UpstreamError

#: The scope identity asks of a directory reader (demo_realm.toml grants it to reminders and shares).
USERS_SCOPE = "users:read"


class DirectoryUser(BaseModel):
    """One user as the directory lists them: an opaque `id` (their `sub`), a username, maybe an e-mail."""

    id: str
    username: str
    email: str | None = None


class _DirectoryPage(BaseModel):
    data: list[DirectoryUser]
    count: int


class DirectoryClient:
    """The user directory at `url` (`GET {url}?username=` and `GET {url}/{id}`), asked with the token
    `oauth` fetches for `audience`. Build one per request or per app; tokens are cached in `oauth`.

    Any answer outside the directory's contract raises `UpstreamError`; an unreachable directory raises
    the `httpx.HTTPError` of the call, and a refused token `authz.OutboundAuthError`.
    """

    def __init__(self, http: httpx.AsyncClient, oauth: authz.OAuthClient, *, url: str, audience: str) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._auth = oauth.client_credentials(audience, USERS_SCOPE)

    async def find(self, username: str) -> DirectoryUser | None:
        """The user with exactly this username, or None."""
        response = await self._http.get(self._url, params={"username": username}, auth=self._auth)
        if response.status_code != httpx.codes.OK:
            raise UpstreamError("the user directory did not answer", response)
        try:
            page = _DirectoryPage.model_validate_json(response.content)
        except ValidationError:
            raise UpstreamError(
                "the user directory answered with something this service cannot read", response
            ) from None
        return next((user for user in page.data if user.username == username), None)

    async def get(self, user_id: str) -> DirectoryUser | None:
        """The user with this `sub`, or None if the directory has no such user (404)."""
        response = await self._http.get(f"{self._url}/{quote(user_id, safe='')}", auth=self._auth)
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise UpstreamError("the user directory did not answer", response)
        try:
            return DirectoryUser.model_validate_json(response.content)
        except ValidationError:
            raise UpstreamError("the user directory answered with an unexpected body", response) from None

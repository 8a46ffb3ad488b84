"""`servicekit.directory.DirectoryClient` and `servicekit.settings.CallerSettings`: the directory written once
for every service that reads it, asked with the service's own `users:read` token, and found where identity is."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from authz import AuthzSettings, OAuthClient
from servicekit.directory import USERS_SCOPE, DirectoryClient, DirectoryUser
from servicekit.settings import CallerSettings
from servicekit.upstream import UpstreamError

DIRECTORY = "http://identity.test/users"
BOB = {"id": "sub-bob", "username": "bob", "email": "bob@example.test"}


def _client(directory: Callable[[httpx.Request], httpx.Response]) -> tuple[DirectoryClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            assert (form["audience"], form["scope"]) == ("identity", USERS_SCOPE)
            return httpx.Response(200, json={"access_token": "svc-token", "token_type": "Bearer", "expires_in": 300})
        seen.append(request)
        return directory(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    settings = AuthzSettings(issuer="http://identity.test", token_url="http://identity.test/token")
    oauth = OAuthClient(http, settings, client_id="svc", client_secret="s3cret")
    return DirectoryClient(http, oauth, url=DIRECTORY + "/", audience="identity"), seen


async def test_find_by_username_with_the_services_own_token():
    client, seen = _client(lambda r: httpx.Response(200, json={"data": [BOB], "count": 1}))

    assert await client.find("bob") == DirectoryUser(**BOB)
    assert seen[0].url == httpx.URL(DIRECTORY, params={"username": "bob"})
    assert seen[0].headers["authorization"] == "Bearer svc-token"


async def test_find_matches_the_username_exactly():
    client, _ = _client(lambda r: httpx.Response(200, json={"data": [BOB], "count": 1}))

    assert await client.find("Bob") is None


async def test_get_by_sub_quotes_it_and_maps_404_to_none():
    client, seen = _client(lambda r: httpx.Response(404))

    assert await client.get("a/b c") is None
    assert seen[0].url.raw_path == b"/users/a%2Fb%20c"


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(500), httpx.Response(401), httpx.Response(200, json={"unexpected": True})],
    ids=["500", "401", "bad-body"],
)
async def test_answers_outside_the_contract_raise_upstream_error(answer: httpx.Response):
    client, _ = _client(lambda r: answer)

    with pytest.raises(UpstreamError) as find_error:
        await client.find("bob")
    with pytest.raises(UpstreamError):
        await client.get("sub-bob")

    assert isinstance(find_error.value, httpx.HTTPError)  # a 502 problem by default


class _Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="SVC_", extra="ignore")

    client_id: str = "svc"
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings(issuer="http://issuer.test/"))


@pytest.mark.parametrize(
    ("identity_url", "directory_url", "expected"),
    [
        (None, None, "http://issuer.test/users"),
        ("http://identity.internal:9000/", None, "http://identity.internal:9000/users"),
        ("http://identity.internal:9000", "http://directory.test/people/", "http://directory.test/people"),
    ],
)
def test_directory_is_found_where_identity_is(identity_url, directory_url, expected):
    settings = _Settings(
        client_secret="x",
        directory_url=directory_url,
        authz=AuthzSettings(issuer="http://issuer.test/", identity_url=identity_url),
    )

    assert settings.directory_endpoint == expected


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_client_secret_is_refused_naming_the_variable(secret):
    with pytest.raises(ValidationError, match="SVC_CLIENT_SECRET is empty"):
        _Settings(client_secret=secret)

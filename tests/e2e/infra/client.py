"""A client that knows only the identity URL and finds everything else by discovery, as a CLI would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

import devstack.suite
from tests.e2e.infra import forgery
from tests.e2e.infra.spy import Spy

DEMO_USERS = ("alice", "bob", "carol")


@dataclass
class SuiteClient:
    """What a test needs of a running suite: URLs, discovery, tokens, and the processes themselves."""

    identity_url: str
    todos_url: str
    shares_url: str
    reminders_url: str
    gateway_url: str
    database_kind: str
    database_urls: dict[str, str]
    processes: devstack.suite.Suite
    http: httpx.Client
    mode: str = "passthrough"
    #: The spy upstream behind `/api/spy/…` (moded suites only): what a compromised service would receive.
    spy: Spy | None = None

    @property
    def web_url(self) -> str:
        """Where this run's web client lives (its redirect and post-logout URIs at identity)."""
        return devstack.suite.web_url(self.processes.config)

    @property
    def admin_auth(self) -> tuple[str, str]:
        """HTTP Basic credentials of the realm's admin client (its secret was generated at start-up)."""
        return ("identity-admin", self.processes.secrets["identity-admin"])

    def discovery(self) -> dict[str, Any]:
        response = self.http.get(f"{self.identity_url}/.well-known/openid-configuration")
        response.raise_for_status()
        return response.json()

    def password_token(self, user: str, **form: str) -> str:
        """A token for a demo user from the `password` grant of the public `todo-cli` client."""
        response = self.http.post(
            self.discovery()["token_endpoint"],
            data={"grant_type": "password", "client_id": "todo-cli", "username": user, "password": user, **form},
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def client_token(self, client_id: str, **form: str) -> str:
        """A token from the realm's confidential client `client_id` (its secret was generated at start-up)."""
        response = self.http.post(
            self.discovery()["token_endpoint"],
            data={"grant_type": "client_credentials", **form},
            auth=(client_id, self.processes.secrets[client_id]),
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def jwt(self, token: str) -> str:
        """The JWT behind an edge token: the token itself, or (phantom) what identity resolves it to — asked
        as the gateway would, with the gateway's client. Tests use it to forge from a real token's claims."""
        if token.count(".") == 2:
            return token
        response = self.http.post(
            self.discovery()["introspection_endpoint"],
            data={"token": token},
            headers={"Accept": "application/jwt"},
            auth=("gateway", self.processes.secrets["gateway"]),
        )
        assert response.headers["content-type"].startswith("application/jwt"), response.text
        return response.text

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of an edge token (opaque or not), unverified: for tests that need `sub` and friends."""
        return forgery.claims_of(self.jwt(token))

    def call(self, base: str, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, f"{base}{path}", headers=headers, **kwargs)

    def gateway(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """`/api/<service>/…` through the gateway."""
        return self.call(self.gateway_url, method, f"/api{path}", token, **kwargs)

    def extract_key(self, service: str) -> bytes:
        """The key the gateway signs identity headers for `service` with (generated for this run)."""
        env = next(s.env for s in self.processes.specs if s.name == "gateway")
        return json.loads(env["GATEWAY_EXTRACT_KEYS"])[service].encode()

    def todos(self, method: str, path: str = "", token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.call(self.todos_url, method, f"/todos{path}", token, **kwargs)

    def shares(self, method: str, path: str = "", token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.call(self.shares_url, method, f"/shares{path}", token, **kwargs)

    def reminders(self, method: str, path: str = "", token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.call(self.reminders_url, method, f"/reminders{path}", token, **kwargs)

    def issued(self, client_id: str, grant_type: str) -> int:
        """How many tokens identity issued to `client_id` with `grant_type` since it started."""
        stats = self.http.get(f"{self.identity_url}/admin/stats", auth=self.admin_auth).json()["data"]
        return sum(row["count"] for row in stats if (row["client_id"], row["grant_type"]) == (client_id, grant_type))

    def metric(self, name: str) -> float:
        for line in self.http.get(f"{self.todos_url}/metrics").text.splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return float(value)
        raise KeyError(name)

"""The floors: what Python can do at all for each hop, with no auth, started beside the suite in the same run.

    uvicorn bench.floors:service_app --factory ...  # like todos: GET /todos/whoami and GET /todos (sync `def`s)
    uvicorn bench.floors:hop_app --factory ...      # like the gateway: forward over one aiohttp session

Each is what its counterpart is minus the work that makes it ours: the same uvicorn (uvloop, httptools),
the same FastAPI and pydantic for the endpoints, a sync `def` where the service's handler is sync, the same
response size; no token, no database, no middleware. The hop is a bare ASGI app (as the gateway's API path
is) forwarding `/api/<anything>/<path>` to `BENCH_UPSTREAM` with one keep-alive `aiohttp.ClientSession`,
passing headers and body through. `bench/hops.py` drives them and the suite the same way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import yarl
from fastapi import FastAPI
from pydantic import BaseModel

from authz import Mode

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: What todos' whoami answers for reminders' client-credentials token, field for field (the same bytes).
WHOAMI = {
    "service": "todos",
    "subject": "reminders",
    "username": None,
    "kind": "service",
    "client_id": "reminders",
    "roles": [],
    "scopes": ["todos:due:read"],
    "actor": [],
    "audience": ["todos"],
    "mesh_peer": None,
    "mode": Mode.PASSTHROUGH.value,
    "source": "token",
}


class TodoOut(BaseModel):
    """todos.models.TodoPublic's fields and types."""

    title: str
    notes: str = ""
    due_at: datetime | None = None
    done: bool = False
    id: uuid.UUID
    owner_id: str
    created_at: datetime
    updated_at: datetime


class TodosOut(BaseModel):
    data: list[TodoOut]
    count: int


def sample_todos(n: int = 50) -> list[dict[str, Any]]:
    """Rows like the bench's own: alice's todos as the bench creates them in the suite (bench/hops.py)."""
    now = datetime.now(UTC)
    return [
        {"title": f"bench todo {i}", "notes": "", "due_at": None, "done": False, "id": uuid.uuid4(),
         "owner_id": "alice-subject-000000000000000000000000", "created_at": now, "updated_at": now}
        for i in range(n)
    ]  # fmt: skip


def service_app() -> FastAPI:
    """todos' two benched endpoints, bare: under `/todos` (what the bare hop forwards to) and again under
    `/floor` (where the gateway routes `/api/floor/…`: bench/hops.py puts it in front of this app too)."""
    app = FastAPI()
    rows = sample_todos()

    def whoami() -> dict[str, Any]:
        return dict(WHOAMI)

    def read_todos() -> TodosOut:
        # Validated per request from plain rows, as todos validates its ORM rows into TodoPublic.
        return TodosOut(data=[TodoOut.model_validate(r) for r in rows], count=len(rows))

    for prefix in ("/todos", "/floor"):
        app.get(f"{prefix}/whoami")(whoami)
        app.get(prefix)(read_todos)
    return app


class Hop:
    """`/api/<name>/<rest>` → `<upstream>/<name>/<rest>`: the gateway's forward with nothing in front of it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["raw_path"].decode("latin-1").removeprefix("/api")
        query = scope["query_string"].decode("latin-1")
        url = yarl.URL(self.upstream + path + (f"?{query}" if query else ""), encoded=True)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k != b"host"]
        assert self.session is not None
        async with self.session.request(scope["method"], url, headers=headers, data=body or None) as response:
            payload = await response.read()
            out = [(k, v) for k, v in response.raw_headers if k.lower() not in (b"content-length", b"date", b"server")]
        out.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0, limit_per_host=64, keepalive_timeout=60),
                    auto_decompress=False,
                    skip_auto_headers=("User-Agent", "Accept-Encoding"),
                    cookie_jar=aiohttp.DummyCookieJar(),  # the gateway's session settings (gateway/forward.py)
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def hop_app() -> Hop:
    return Hop(os.environ["BENCH_UPSTREAM"])

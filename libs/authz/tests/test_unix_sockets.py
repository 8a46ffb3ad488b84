"""AUTHZ_UNIX_SOCKETS: hosts reached over a Unix socket (the local mesh's outbound sidecars), others over TCP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

import authz


async def _answer_with_host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    host = next(line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:"))
    body = json.dumps({"via": "unix socket", "host": host, "target": head.split(" ")[1]}).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    writer.close()


class TestSetting:
    def test_read_from_the_environment(self, monkeypatch) -> None:
        monkeypatch.setenv("AUTHZ_UNIX_SOCKETS", '{"todos": "/run/mesh/shares-to-todos.sock"}')
        assert authz.AuthzSettings().unix_sockets == {"todos": Path("/run/mesh/shares-to-todos.sock")}

    def test_empty_by_default(self) -> None:
        assert authz.AuthzSettings().unix_sockets == {}

    @pytest.mark.parametrize(
        "sockets",
        [{"todos": "relative.sock"}, {"todos:8001": "/a.sock"}, {"http://todos": "/a.sock"}, {"": "/a.sock"}],
    )
    def test_a_host_name_and_an_absolute_path_or_nothing(self, sockets) -> None:
        with pytest.raises(ValidationError, match="unix_sockets maps a host name"):
            authz.AuthzSettings(unix_sockets=sockets)


async def test_a_mapped_host_goes_to_its_socket_and_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "to-todos.sock"
    server = await asyncio.start_unix_server(_answer_with_host, path=str(path))
    async with server, httpx.AsyncClient(mounts=authz.unix_socket_mounts({"todos": path})) as client:
        response = await client.get("http://todos/todos/due?within=60")
    assert response.json() == {"via": "unix socket", "host": "todos", "target": "/todos/due?within=60"}


async def test_any_other_host_is_not_sent_to_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "to-todos.sock"
    seen: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append("unix")
        await _answer_with_host(reader, writer)

    server = await asyncio.start_unix_server(record, path=str(path))
    async with server, httpx.AsyncClient(mounts=authz.unix_socket_mounts({"todos": path})) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/todos")  # TCP (nothing listens on the discard port)
    assert seen == []

"""The loop watch catches a handler that blocks its event loop, and only such a handler."""

from __future__ import annotations

import hashlib
import warnings

import anyio.to_thread
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlmodel import create_engine
from starlette.exceptions import StarletteDeprecationWarning

from servicekit.loopwatch import LoopWatch

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def pbkdf2() -> bytes:
    return hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 120_000)


def query(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar_one()


def make_app(engine: Engine) -> FastAPI:
    app = FastAPI()

    @app.get("/hash/on-the-loop")
    async def hash_on_the_loop() -> str:
        return pbkdf2().hex()

    @app.get("/hash/in-a-thread")
    async def hash_in_a_thread() -> str:
        return (await anyio.to_thread.run_sync(pbkdf2)).hex()

    @app.get("/hash/def")
    def hash_def() -> str:
        return pbkdf2().hex()

    @app.get("/sql/on-the-loop")
    async def sql_on_the_loop() -> int:
        return query(engine)

    @app.get("/sql/in-a-thread")
    async def sql_in_a_thread() -> int:
        return await anyio.to_thread.run_sync(query, engine)

    @app.get("/sql/def")
    def sql_def() -> int:
        return query(engine)

    return app


@pytest.fixture
def client(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/t.db")
    with TestClient(make_app(engine)) as client:
        client.get("/sql/def")  # the first request builds FastAPI's route table (a one-off, not a handler's)
        yield client
    engine.dispose()


@pytest.mark.parametrize(
    ("path", "blocked"),
    [
        ("/hash/on-the-loop", "ms of CPU in one callback on the event loop"),
        ("/sql/on-the-loop", "SQL on the event loop (SELECT 1)"),
    ],
)
def test_a_blocking_handler_is_caught(client, path, blocked):
    with LoopWatch() as watch:
        assert client.get(path).status_code == 200

    assert len(watch.blocks) == 1, watch.blocks
    assert blocked in watch.blocks[0]


def test_the_cpu_report_names_the_line(client):
    with LoopWatch() as watch:
        client.get("/hash/on-the-loop")

    assert "pbkdf2" in watch.blocks[0]


@pytest.mark.parametrize("path", ["/hash/in-a-thread", "/hash/def", "/sql/in-a-thread", "/sql/def"])
def test_work_in_a_worker_thread_is_fine(client, path):
    with LoopWatch() as watch:
        for _ in range(5):
            assert client.get(path).status_code == 200

    assert watch.blocks == []


async def test_test_code_on_the_main_thread_is_not_watched(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/t.db")
    with LoopWatch() as watch:
        pbkdf2()
        query(engine)
    engine.dispose()

    assert watch.blocks == []

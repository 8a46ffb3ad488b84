"""Share records and the sharing workflow without HTTP: one record per grant even for two requests at once,
no pending record left by a cancelled request, and none blocking a share forever."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from authz import Kind, Principal
from servicekit.directory import DirectoryUser
from shares import service
from shares.errors import AlreadyShared
from shares.models import ShareCreate

ALICE = Principal(subject="sub-alice", kind=Kind.USER, client_id="todo-cli", username="alice")
BOB = DirectoryUser(id="sub-bob", username="bob")


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_a_concurrent_twin_is_refused_by_the_table(session: Session):
    # Both requests passed the `find_share` check before either wrote: the unique constraint decides.
    data = ShareCreate(todo_id=uuid.uuid4(), username="bob", note="first")

    first = service.add_pending(session, ALICE, data, BOB)
    second = service.add_pending(session, ALICE, data.model_copy(update={"note": "second"}), BOB)

    assert first is not None
    assert second is None
    found = service.find_share(session, data.todo_id, BOB.id)
    assert found is not None
    assert (found.id, found.note, found.status) == (first.id, "first", "pending")
    assert service.list_sent(session, ALICE)[1] == 1


class _Directory:
    """The directory's one answer the workflow needs: bob is bob."""

    async def find(self, username: str) -> DirectoryUser | None:
        return BOB if username == BOB.username else None


class _HangingTodos:
    """A todos whose grant never answers until the test lets it: the request can be cancelled meanwhile."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.grants: list[tuple[uuid.UUID, str]] = []

    async def grant(self, principal: Principal, todo_id: uuid.UUID, grantee_id: str) -> None:
        self.asked.set()
        await asyncio.Event().wait()  # forever: only a cancellation ends it

    async def owner_of(self, principal: Principal, todo_id: uuid.UUID) -> str | None:
        return principal.subject


class _GrantingTodos(_HangingTodos):
    async def grant(self, principal: Principal, todo_id: uuid.UUID, grantee_id: str) -> None:
        self.grants.append((todo_id, grantee_id))


async def test_a_cancelled_request_leaves_no_pending_record(session: Session):
    # The client goes away (or the server stops) while todos is being asked: the task is cancelled inside
    # the grant call, and the record written as pending must not outlive it.
    todos = _HangingTodos()
    data = ShareCreate(todo_id=uuid.uuid4(), username="bob")
    task = asyncio.create_task(
        service.create_share(session, ALICE, data, directory=_Directory(), todos=todos)  # type: ignore[arg-type]
    )
    await asyncio.wait_for(todos.asked.wait(), timeout=5)
    assert service.find_share(session, data.todo_id, BOB.id) is not None  # pending while todos is asked

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert service.find_share(session, data.todo_id, BOB.id) is None


async def test_an_abandoned_pending_record_is_taken_over(session: Session):
    # A pending record whose request died before cleaning up (a crash) must not block the share forever.
    data = ShareCreate(todo_id=uuid.uuid4(), username="bob", note="again")
    stale = service.add_pending(session, ALICE, data.model_copy(update={"note": "lost"}), BOB)
    assert stale is not None
    stale.created_at = datetime.now(UTC) - service.ABANDONED_AFTER - timedelta(seconds=1)
    session.add(stale)
    session.commit()
    todos = _GrantingTodos()

    share = await service.create_share(session, ALICE, data, directory=_Directory(), todos=todos)  # type: ignore[arg-type]

    assert (share.id, share.status, share.note) == (stale.id, "active", "again")
    assert todos.grants == [(data.todo_id, BOB.id)]


async def test_a_recent_pending_record_is_still_a_duplicate(session: Session):
    # A pending record younger than ABANDONED_AFTER may belong to a request still under way: 409, no grant.
    data = ShareCreate(todo_id=uuid.uuid4(), username="bob")
    assert service.add_pending(session, ALICE, data, BOB) is not None
    todos = _GrantingTodos()

    with pytest.raises(AlreadyShared):
        await service.create_share(session, ALICE, data, directory=_Directory(), todos=todos)  # type: ignore[arg-type]

    assert todos.grants == []

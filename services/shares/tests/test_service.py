"""Share records without HTTP: the one-record-per-grant rule holds even for two requests at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from authz import Kind, Principal
from shares import service
from shares.clients import DirectoryUser
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

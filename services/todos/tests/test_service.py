"""Who may see and change a todo, decided by `todos.service` (no HTTP: Principal objects and SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from authz import Kind, Principal
from todos import service
from todos.models import Todo, TodoCreate, TodoUpdate

ALICE = Principal(
    subject="sub-alice", kind=Kind.USER, client_id="todo-cli", username="alice", roles=frozenset({"user"})
)
BOB = Principal(subject="sub-bob", kind=Kind.USER, client_id="todo-cli", username="bob", roles=frozenset({"user"}))
CAROL = Principal(
    subject="sub-carol", kind=Kind.USER, client_id="todo-cli", username="carol", roles=frozenset({"user", "admin"})
)
NINE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def todos(session: Session) -> dict[str, Todo]:
    """One todo each for alice, bob and carol, plus a second one for alice."""
    made = {
        "alice": service.create_todo(session, ALICE, TodoCreate(title="alice's")),
        "alice-2": service.create_todo(session, ALICE, TodoCreate(title="alice's second", due_at=NINE)),
        "bob": service.create_todo(session, BOB, TodoCreate(title="bob's")),
        "carol": service.create_todo(session, CAROL, TodoCreate(title="carol's")),
    }
    return made


def readable_titles(session: Session, principal: Principal) -> set[str]:
    return {todo.title for todo in session.exec(service.readable_todos(principal)).all()}


class TestReadableTodos:
    def test_owner_reads_own(self, session, todos):
        assert readable_titles(session, ALICE) == {"alice's", "alice's second"}

    def test_other_user_reads_none_of_them(self, session, todos):
        assert readable_titles(session, BOB) == {"bob's"}

    def test_admin_reads_every_todo(self, session, todos):
        assert readable_titles(session, CAROL) == {"alice's", "alice's second", "bob's", "carol's"}

    def test_stranger_reads_nothing(self, session, todos):
        stranger = Principal(subject="sub-nobody", kind=Kind.USER, client_id="todo-cli", roles=frozenset({"user"}))

        assert readable_titles(session, stranger) == set()

    @pytest.mark.parametrize("roles", [{"Admin"}, {"ADMIN"}, {"administrator"}, {"admin "}])
    def test_only_the_exact_admin_role_opens_everything(self, session, todos, roles):
        almost = Principal(subject="sub-bob", kind=Kind.USER, client_id="todo-cli", roles=frozenset(roles))

        assert readable_titles(session, almost) == {"bob's"}

    def test_admin_scope_is_not_the_admin_role(self, session, todos):
        scoped = Principal(subject="sub-bob", kind=Kind.USER, client_id="todo-cli", scopes=frozenset({"admin"}))

        assert readable_titles(session, scoped) == {"bob's"}

    def test_narrowing_keeps_the_restriction(self, session, todos):
        # get_todo adds a `where` to readable_todos: it must not widen what the principal may see.
        statement = service.readable_todos(BOB).where(Todo.id == todos["alice"].id)

        assert session.exec(statement).all() == []


class TestGetTodo:
    def test_owner(self, session, todos):
        assert service.get_todo(session, ALICE, todos["alice"].id) == todos["alice"]

    def test_other_user_gets_nothing(self, session, todos):
        assert service.get_todo(session, BOB, todos["alice"].id) is None

    def test_admin(self, session, todos):
        assert service.get_todo(session, CAROL, todos["alice"].id) == todos["alice"]


class TestCanWrite:
    def test_owner_writes(self, todos):
        assert service.can_write(ALICE, todos["alice"]) is True

    def test_other_user_does_not(self, todos):
        assert service.can_write(BOB, todos["alice"]) is False

    def test_admin_does_not_write_others(self, todos):
        assert service.can_write(CAROL, todos["alice"]) is False
        assert service.can_write(CAROL, todos["bob"]) is False

    def test_admin_writes_own(self, todos):
        assert service.can_write(CAROL, todos["carol"]) is True

    def test_write_implies_read(self, session, todos):
        # Every todo a principal may write, it may also read: a refused write is then a 403, never a leak.
        for principal in (ALICE, BOB, CAROL):
            for todo in todos.values():
                if service.can_write(principal, todo):
                    assert service.get_todo(session, principal, todo.id) is not None


class TestListOwnTodos:
    def test_only_own_even_for_admin(self, session, todos):
        page, count = service.list_own_todos(session, CAROL)

        assert [t.title for t in page] == ["carol's"]
        assert count == 1

    def test_newest_first_and_count(self, session, todos):
        page, count = service.list_own_todos(session, ALICE, limit=1)

        assert [t.title for t in page] == ["alice's second"]
        assert count == 2

    def test_filters(self, session, todos):
        assert service.list_own_todos(session, ALICE, due_before=NINE) == ([], 0)
        assert service.list_own_todos(session, ALICE, due_after=NINE)[1] == 1
        assert service.list_own_todos(session, ALICE, due_before=NINE + timedelta(seconds=1))[1] == 1
        assert service.list_own_todos(session, ALICE, done=True) == ([], 0)
        assert service.list_own_todos(session, ALICE, done=False)[1] == 2

    def test_filters_compare_instants_not_wall_clocks(self, session, todos):
        # 10:30+02:00 is 08:30Z, before alice's 09:00Z todo; 11:30+02:00 is 09:30Z, after it.
        plus_two = timezone(timedelta(hours=2))

        before_it = datetime(2026, 12, 1, 10, 30, tzinfo=plus_two)
        after_it = datetime(2026, 12, 1, 11, 30, tzinfo=plus_two)

        assert [t.title for t in service.list_own_todos(session, ALICE, due_after=before_it)[0]] == ["alice's second"]
        assert service.list_own_todos(session, ALICE, due_before=before_it) == ([], 0)
        assert service.list_own_todos(session, ALICE, due_after=after_it) == ([], 0)
        assert service.list_own_todos(session, ALICE, due_before=after_it)[1] == 1


class TestWrites:
    def test_create_sets_owner_from_principal(self, session):
        todo = service.create_todo(session, BOB, TodoCreate(title="x"))

        assert todo.owner_id == "sub-bob"
        assert service.get_todo(session, BOB, todo.id) is not None

    def test_update_changes_only_sent_fields(self, session, todos):
        todo = todos["alice-2"]
        before_updated = todo.updated_at

        updated = service.update_todo(session, todo, TodoUpdate.model_validate({"done": True}))

        assert updated.done is True
        assert updated.title == "alice's second"
        assert updated.due_at is not None
        assert updated.due_at.replace(tzinfo=UTC) == NINE
        assert updated.updated_at.replace(tzinfo=UTC) > before_updated.replace(tzinfo=UTC)
        assert updated.owner_id == "sub-alice"

    def test_delete(self, session, todos):
        service.delete_todo(session, todos["bob"])

        assert readable_titles(session, CAROL) == {"alice's", "alice's second", "carol's"}

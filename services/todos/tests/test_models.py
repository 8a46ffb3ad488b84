"""The API shapes of todos: what a client may send, and how times are normalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from todos.models import NOTES_MAX, TITLE_MAX, TodoCreate, TodoPublic, TodoUpdate


def error_locs(excinfo: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {str(error["loc"][0]) for error in excinfo.value.errors()}


class TestTodoCreate:
    def test_defaults(self):
        todo = TodoCreate(title="buy milk")

        assert (todo.title, todo.notes, todo.due_at, todo.done) == ("buy milk", "", None, False)

    def test_strips_whitespace(self):
        assert TodoCreate(title="  buy milk \n").title == "buy milk"

    @pytest.mark.parametrize("title", ["", " ", "\t\n", "t" * (TITLE_MAX + 1)])
    def test_refuses_title(self, title: str):
        with pytest.raises(ValidationError) as excinfo:
            TodoCreate(title=title)

        assert error_locs(excinfo) == {"title"}

    def test_title_limits(self):
        assert TodoCreate(title="t").title == "t"
        assert len(TodoCreate(title="t" * TITLE_MAX).title) == TITLE_MAX

    def test_notes_limit(self):
        assert len(TodoCreate(title="x", notes="n" * NOTES_MAX).notes) == NOTES_MAX
        with pytest.raises(ValidationError) as excinfo:
            TodoCreate(title="x", notes="n" * (NOTES_MAX + 1))
        assert error_locs(excinfo) == {"notes"}

    @pytest.mark.parametrize("field", ["owner_id", "id", "created_at", "updated_at"])
    def test_refuses_server_fields(self, field: str):
        with pytest.raises(ValidationError) as excinfo:
            TodoCreate.model_validate({"title": "x", field: "whatever"})

        assert error_locs(excinfo) == {field}

    def test_refuses_naive_due_at(self):
        with pytest.raises(ValidationError, match="timezone is required"):
            TodoCreate.model_validate({"title": "x", "due_at": "2026-12-01T09:00:00"})

    @pytest.mark.parametrize(
        "due_at",
        [
            "2026-12-01T11:00:00+02:00",
            "2026-12-01T04:00:00-05:00",
            "2026-12-01T09:00:00Z",
            datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        ],
    )
    def test_due_at_becomes_utc(self, due_at):
        todo = TodoCreate.model_validate({"title": "x", "due_at": due_at})

        assert todo.due_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        assert todo.due_at.utcoffset() == timedelta(0)


class TestTodoUpdate:
    def test_only_sent_fields_are_set(self):
        update = TodoUpdate.model_validate({"done": True})

        assert update.model_dump(exclude_unset=True) == {"done": True}

    def test_empty_update_sets_nothing(self):
        assert TodoUpdate.model_validate({}).model_dump(exclude_unset=True) == {}

    @pytest.mark.parametrize("field", ["title", "done"])
    def test_refuses_null(self, field: str):
        with pytest.raises(ValidationError, match="not set to null") as excinfo:
            TodoUpdate.model_validate({field: None})

        assert error_locs(excinfo) == {field}

    def test_refuses_null_notes(self):
        # `notes` is a NOT NULL column (a todo without notes has ""): null must be refused like title's,
        # not accepted here and turned into a database error later.
        with pytest.raises(ValidationError) as excinfo:
            TodoUpdate.model_validate({"notes": None})

        assert error_locs(excinfo) == {"notes"}

    def test_due_at_may_be_cleared(self):
        update = TodoUpdate.model_validate({"due_at": None})

        assert update.model_dump(exclude_unset=True) == {"due_at": None}

    def test_due_at_becomes_utc(self):
        update = TodoUpdate.model_validate({"due_at": "2026-12-01T11:00:00+02:00"})

        assert update.due_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        assert update.due_at.utcoffset() == timedelta(0)

    def test_refuses_naive_due_at(self):
        with pytest.raises(ValidationError, match="timezone is required"):
            TodoUpdate.model_validate({"due_at": "2026-12-01T09:00:00"})

    @pytest.mark.parametrize("title", ["", "   ", "t" * (TITLE_MAX + 1)])
    def test_refuses_title(self, title: str):
        with pytest.raises(ValidationError) as excinfo:
            TodoUpdate.model_validate({"title": title})

        assert error_locs(excinfo) == {"title"}

    def test_strips_whitespace(self):
        assert TodoUpdate.model_validate({"title": " x "}).title == "x"

    @pytest.mark.parametrize("field", ["owner_id", "id", "created_at"])
    def test_refuses_server_fields(self, field: str):
        with pytest.raises(ValidationError) as excinfo:
            TodoUpdate.model_validate({field: "whatever"})

        assert error_locs(excinfo) == {field}


class TestTodoPublic:
    def _public(self, **times) -> TodoPublic:
        naive = datetime(2026, 1, 2, 3, 4, 5)
        return TodoPublic.model_validate(
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "owner_id": "alice",
                "title": "x",
                "created_at": naive,
                "updated_at": naive,
                **times,
            }
        )

    def test_naive_times_from_the_database_are_utc(self):
        todo = self._public(due_at=datetime(2026, 12, 1, 9, 0))

        assert todo.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert todo.updated_at.tzinfo is UTC
        assert todo.due_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        assert todo.model_dump(mode="json")["due_at"] in {"2026-12-01T09:00:00Z", "2026-12-01T09:00:00+00:00"}

    def test_aware_times_are_kept(self):
        plus_two = datetime(2026, 12, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))

        todo = self._public(due_at=plus_two)

        assert todo.due_at == plus_two
        assert todo.due_at.utcoffset() == timedelta(hours=2)

    def test_no_due_at(self):
        assert self._public().due_at is None

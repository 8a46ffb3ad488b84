"""The todos API: `/todos` for a user's own todos, `/todos/whoami` for any caller."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AfterValidator

from todos import service
from todos.auth import AnyCaller, TodosRead, TodosWrite
from todos.deps import SessionDep, SettingsDep
from todos.models import Todo, TodoCreate, TodoPublic, TodosPublic, TodoUpdate, aware_utc
from todos.settings import SERVICE_NAME

router = APIRouter(prefix="/todos", tags=["todos"])

NOT_FOUND = "no todo with this id is visible to you"
#: A time filter is an instant: it must carry a timezone, and is compared in UTC (as stored).
Instant = Annotated[datetime | None, AfterValidator(aware_utc)]


@router.get("/whoami")
def whoami(principal: AnyCaller) -> dict[str, Any]:
    """The caller as todos sees it (never the raw token)."""
    return {"service": SERVICE_NAME, **principal.whoami()}


@router.get("")
def read_todos(
    principal: TodosRead,
    session: SessionDep,
    settings: SettingsDep,
    done: bool | None = None,
    due_before: Instant = None,
    due_after: Instant = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> TodosPublic:
    """The caller's own todos, newest first; filter by `done` and by due time, page with offset/limit."""
    todos, count = service.list_own_todos(
        session,
        principal,
        done=done,
        due_before=due_before,
        due_after=due_after,
        offset=offset,
        limit=min(limit, settings.page_size_max),
    )
    return TodosPublic(data=[TodoPublic.model_validate(t) for t in todos], count=count)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_todo(principal: TodosWrite, session: SessionDep, body: TodoCreate, response: Response) -> TodoPublic:
    """Create a todo owned by the caller."""
    todo = service.create_todo(session, principal, body)
    response.headers["Location"] = f"/todos/{todo.id}"
    return TodoPublic.model_validate(todo)


@router.get("/{todo_id}")
def read_todo(principal: TodosRead, session: SessionDep, todo_id: uuid.UUID) -> TodoPublic:
    """One todo the caller may see; 404 whether it is missing or someone else's."""
    return TodoPublic.model_validate(_visible(session, principal, todo_id))


@router.patch("/{todo_id}")
def update_todo(principal: TodosWrite, session: SessionDep, todo_id: uuid.UUID, body: TodoUpdate) -> TodoPublic:
    """Change the fields sent. 404 if the caller cannot see the todo; 403 if they see it but may not change it."""
    todo = _writable(session, principal, todo_id)
    return TodoPublic.model_validate(service.update_todo(session, todo, body))


@router.delete("/{todo_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_todo(principal: TodosWrite, session: SessionDep, todo_id: uuid.UUID) -> None:
    """Delete a todo the caller owns (404 / 403 as for update)."""
    service.delete_todo(session, _writable(session, principal, todo_id))


def _visible(session, principal, todo_id: uuid.UUID) -> Todo:
    todo = service.get_todo(session, principal, todo_id)
    if todo is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return todo


def _writable(session, principal, todo_id: uuid.UUID) -> Todo:
    todo = _visible(session, principal, todo_id)
    if not service.can_write(principal, todo):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may see this todo but not change it")
    return todo

"""The todos API.

Users: their own todos (`/todos`, `/todos/{id}`) and those shared with them (`/todos/shared`).
`shares`, acting for the owner (delegated token): grants (`/todos/{id}/grants/{user_id}`).
`reminders`, with its own token: the due-soon query (`/todos/due`). The admin role: `/todos/audit`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import AfterValidator, TypeAdapter

from servicekit.paging import Limit, Offset
from todos import service
from todos.auth import (
    AnyCaller,
    AuditRead,
    DueRead,
    GrantRevoke,
    GrantWrite,
    SharedRead,
    TodosList,
    TodosRead,
    TodosWrite,
)
from todos.deps import SessionDep, SettingsDep
from todos.models import (
    AuditEntryPublic,
    AuditPublic,
    DueTodo,
    DueTodos,
    GrantPublic,
    Todo,
    TodoCreate,
    TodoPublic,
    TodosPublic,
    TodoUpdate,
    aware_utc,
)
from todos.settings import SERVICE_NAME

router = APIRouter(prefix="/todos", tags=["todos"])

NOT_FOUND = "no todo with this id is visible to you"
#: A time filter is an instant: it must carry a timezone, and is compared in UTC (as stored).
Instant = Annotated[datetime | None, AfterValidator(aware_utc)]
#: A page of todos read from their rows' attributes in one pydantic-core call, rather than row by row through
#: SQLModel's `model_validate` (docs/performance.md, Profiling: what a 50-todo page costs).
PAGE_OF_TODOS = TypeAdapter(list[TodoPublic])
#: The widest due-soon window a caller may ask for (a year; 422 past it), then cut to the setting.
WITHIN_MAX = 366 * 86_400


@router.get("/whoami")
def whoami(principal: AnyCaller) -> dict[str, Any]:
    """The caller as todos sees it (never the raw token)."""
    return {"service": SERVICE_NAME, **principal.whoami()}


@router.get("/shared")
def read_shared_todos(
    principal: SharedRead,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> TodosPublic:
    """Todos others shared with the caller (read-only for them)."""
    todos, count = service.list_shared_with(session, principal, offset=offset, limit=min(limit, settings.page_size_max))
    service.record_call(session, principal, "read_shared")
    session.commit()  # the audit entry is stored before anything is answered
    return TodosPublic(data=PAGE_OF_TODOS.validate_python(todos, from_attributes=True), count=count)


@router.get("/due")
def read_due_todos(
    principal: DueRead,
    session: SessionDep,
    settings: SettingsDep,
    within_seconds: Annotated[int, Query(ge=60, le=WITHIN_MAX)] = 86_400,
) -> DueTodos:
    """Open todos falling due within the window (24 h by default): only what a reminder needs."""
    window = timedelta(seconds=min(within_seconds, settings.due_window_max_seconds))
    todos = service.due_within(session, window)
    service.record_call(session, principal, "read_due", detail=f"{len(todos)} due within {window}")
    session.commit()
    return DueTodos(data=[DueTodo.model_validate(t) for t in todos], count=len(todos))


@router.get("/audit")
def read_audit(
    principal: AuditRead,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> AuditPublic:
    """Service and delegated calls, newest first: who, for whom, what."""
    entries, count = service.read_audit(session, offset=offset, limit=min(limit, settings.page_size_max))
    return AuditPublic(data=[AuditEntryPublic.model_validate(e) for e in entries], count=count)


@router.get("")
def read_todos(
    principal: TodosList,
    session: SessionDep,
    settings: SettingsDep,
    done: bool | None = None,
    due_before: Instant = None,
    due_after: Instant = None,
    offset: Offset = 0,
    limit: Limit = 50,
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
    return TodosPublic(data=PAGE_OF_TODOS.validate_python(todos, from_attributes=True), count=count)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_todo(principal: TodosWrite, session: SessionDep, body: TodoCreate, response: Response) -> TodoPublic:
    """Create a todo owned by the caller."""
    todo = service.create_todo(session, principal, body)
    response.headers["Location"] = f"/todos/{todo.id}"
    return TodoPublic.model_validate(todo)


@router.get("/{todo_id}")
def read_todo(principal: TodosRead, session: SessionDep, todo_id: uuid.UUID) -> TodoPublic:
    """One todo the caller may see (own, shared with them, or any for admins); 404 otherwise.

    An admin's read of someone else's todo (the support view) is audited as `admin_read`, like a
    delegated read; the entry is committed before the todo is answered, or the read fails."""
    todo = _visible(session, principal, todo_id)
    if service.is_support_view(session, principal, todo):
        service.record_call(session, principal, "admin_read", todo_id, f"owner {todo.owner_id}", support_view=True)
    else:
        service.record_call(session, principal, "read", todo_id)
    session.commit()
    return TodoPublic.model_validate(todo)


@router.patch("/{todo_id}")
def update_todo(principal: TodosWrite, session: SessionDep, todo_id: uuid.UUID, body: TodoUpdate) -> TodoPublic:
    """Change the fields sent. 404 if the caller cannot see the todo; 403 if they see it but may not change it."""
    todo = _writable(session, principal, todo_id)
    return TodoPublic.model_validate(service.update_todo(session, todo, body))


@router.delete("/{todo_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_todo(principal: TodosWrite, session: SessionDep, todo_id: uuid.UUID) -> None:
    """Delete a todo the caller owns (404 / 403 as for update)."""
    service.delete_todo(session, _writable(session, principal, todo_id))


@router.put("/{todo_id}/grants/{grantee_id}")
def grant_access(
    principal: GrantWrite,
    session: SessionDep,
    todo_id: uuid.UUID,
    grantee_id: Annotated[str, Path(min_length=1, max_length=255)],
    response: Response,
) -> GrantPublic:
    """Share a todo: `shares`, acting for the owner, lets `grantee_id` read it. 201 new, 200 already there."""
    todo = _writable(session, principal, todo_id)
    if grantee_id == todo.owner_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the owner cannot be a grantee of their own todo")
    grant, created = service.grant(session, principal, todo, grantee_id)
    service.record_call(session, principal, "grant", todo_id, detail=f"to {grantee_id}")
    session.commit()  # the grant and its audit entry: one transaction
    session.refresh(grant)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return GrantPublic.model_validate(grant)


@router.delete("/{todo_id}/grants/{grantee_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_access(
    principal: GrantRevoke,
    session: SessionDep,
    todo_id: uuid.UUID,
    grantee_id: Annotated[str, Path(min_length=1, max_length=255)],
) -> None:
    """Unshare: `shares`, acting for the owner, removes the grant. 404 if there was none."""
    todo = _writable(session, principal, todo_id)
    if not service.revoke(session, todo, grantee_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this todo is not shared with that user")
    service.record_call(session, principal, "revoke", todo_id, detail=f"from {grantee_id}")
    session.commit()  # the revocation and its audit entry: one transaction


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

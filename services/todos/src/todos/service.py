"""Who may see and change a todo, decided in one place.

`readable_todos` is the only query that hands out todos: every read goes through it, so a todo that is
not yours is indistinguishable from one that does not exist (404, never a leak). Writing needs more
than reading: `can_write` is checked on a todo the caller may already see, so a refused write is 403.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from authz import Principal
from todos.auth import ADMIN_ROLE
from todos.models import Todo, TodoCreate, TodoUpdate, aware_utc, utcnow


def readable_todos(principal: Principal) -> SelectOfScalar[Todo]:
    """The todos `principal` may see: their own; every todo for the admin role (support view)."""
    statement = select(Todo)
    if principal.has_role(ADMIN_ROLE):
        return statement
    return statement.where(col(Todo.owner_id) == principal.subject)


def can_write(principal: Principal, todo: Todo) -> bool:
    """Only the owner changes a todo; admins read everything but write only their own."""
    return todo.owner_id == principal.subject


def get_todo(session: Session, principal: Principal, todo_id: uuid.UUID) -> Todo | None:
    return session.exec(readable_todos(principal).where(Todo.id == todo_id)).first()


def list_own_todos(
    session: Session,
    principal: Principal,
    *,
    done: bool | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Todo], int]:
    """The caller's own todos, filtered and paged, with the total count of matches."""
    conditions = [col(Todo.owner_id) == principal.subject]
    # Stored times are UTC; SQLite compares them as text, so a filter must be in UTC too.
    due_before, due_after = aware_utc(due_before), aware_utc(due_after)
    if done is not None:
        conditions.append(col(Todo.done) == done)
    if due_before is not None:
        conditions.append(col(Todo.due_at) < due_before)
    if due_after is not None:
        conditions.append(col(Todo.due_at) >= due_after)
    count = session.exec(select(func.count()).select_from(Todo).where(*conditions)).one()
    page = session.exec(
        select(Todo).where(*conditions).order_by(col(Todo.created_at).desc(), col(Todo.id)).offset(offset).limit(limit)
    ).all()
    return list(page), count


def create_todo(session: Session, principal: Principal, data: TodoCreate) -> Todo:
    todo = Todo.model_validate(data, update={"owner_id": principal.subject})
    session.add(todo)
    session.commit()
    session.refresh(todo)
    return todo


def update_todo(session: Session, todo: Todo, data: TodoUpdate) -> Todo:
    todo.sqlmodel_update(data.model_dump(exclude_unset=True))
    todo.updated_at = utcnow()
    session.add(todo)
    session.commit()
    session.refresh(todo)
    return todo


def delete_todo(session: Session, todo: Todo) -> None:
    session.delete(todo)
    session.commit()

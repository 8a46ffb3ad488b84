"""Who may see and change a todo, decided in one place.

`readable_todos` is the only query that hands out todos: every read goes through it, so a todo that is
not yours is indistinguishable from one that does not exist (404, never a leak). A todo is readable by
its owner, by a grantee it was shared with, and by the admin role. Writing needs more than reading:
`can_write` (the owner only) is checked on a todo the caller may already see, so a refused write is 403.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from authz import Kind, Principal
from todos.auth import ADMIN_ROLE
from todos.models import AuditEntry, Grant, Todo, TodoCreate, TodoUpdate, aware_utc, utcnow


def readable_todos(principal: Principal) -> SelectOfScalar[Todo]:
    """The todos `principal` may see: their own and those shared with them; every todo for the admin
    role (support view) — but only on the admin's own call: a service acting for an admin gets no more
    than it would for anyone (delegation carries the user's data rights, not their support powers)."""
    statement = select(Todo)
    if principal.has_role(ADMIN_ROLE) and not principal.is_delegated:
        return statement
    shared_with_me = select(Grant.todo_id).where(Grant.grantee_id == principal.subject)
    return statement.where(or_(col(Todo.owner_id) == principal.subject, col(Todo.id).in_(shared_with_me)))


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
    # The grants go with it, in the same transaction (not left to the database's ON DELETE alone).
    for grant in session.exec(select(Grant).where(Grant.todo_id == todo.id)).all():
        session.delete(grant)
    session.delete(todo)
    session.commit()


def list_shared_with(session: Session, principal: Principal, *, offset: int, limit: int) -> tuple[list[Todo], int]:
    """Todos others shared with the caller (the grants naming them), newest grant first."""
    condition = Grant.grantee_id == principal.subject
    count = session.exec(select(func.count()).select_from(Grant).where(condition)).one()
    page = session.exec(
        select(Todo).join(Grant, col(Grant.todo_id) == col(Todo.id)).where(condition)
        .order_by(col(Grant.created_at).desc(), col(Todo.id)).offset(offset).limit(limit)
    ).all()  # fmt: skip
    return list(page), count


def grant(session: Session, owner: Principal, todo: Todo, grantee_id: str) -> tuple[Grant, bool]:
    """Give `grantee_id` read access to `todo` (idempotent). Returns the grant and whether it is new.

    Not committed: the caller commits it together with its audit entry (`record_call`)."""
    existing = session.get(Grant, (todo.id, grantee_id))
    if existing is not None:
        return existing, False
    new = Grant(todo_id=todo.id, grantee_id=grantee_id, granted_by=owner.subject)
    session.add(new)
    session.flush()
    return new, True


def revoke(session: Session, todo: Todo, grantee_id: str) -> bool:
    """Remove the grant, if there is one. Not committed: the caller commits it with its audit entry."""
    existing = session.get(Grant, (todo.id, grantee_id))
    if existing is None:
        return False
    session.delete(existing)
    session.flush()
    return True


def is_support_view(session: Session, principal: Principal, todo: Todo) -> bool:
    """Did `principal` see `todo` only through the admin role (not owner, not grantee)? Such a read of
    someone else's todo is audited like a delegated call."""
    if todo.owner_id == principal.subject or not principal.has_role(ADMIN_ROLE) or principal.is_delegated:
        return False
    return session.get(Grant, (todo.id, principal.subject)) is None


def due_within(session: Session, window: timedelta) -> list[Todo]:
    """Open todos whose due time falls in [now, now + window), soonest first."""
    now = utcnow()
    return list(
        session.exec(
            select(Todo)
            .where(col(Todo.done).is_(False), col(Todo.due_at) >= now, col(Todo.due_at) < now + window)
            .order_by(col(Todo.due_at))
        ).all()
    )


def record_call(
    session: Session,
    principal: Principal,
    operation: str,
    todo_id: uuid.UUID | None = None,
    detail: str = "",
    *,
    support_view: bool = False,
) -> None:
    """Audit a service's call (its own, or for a user), and an admin's read of another user's todo
    (`support_view`). A user's other calls are not audited here.

    Only added to the session: the caller commits it in the same transaction as the action it records
    (a grant, a revocation; for a read, before the data is answered), so both are stored or neither."""
    if not principal.actor and principal.kind is not Kind.SERVICE and not support_view:
        return
    session.add(AuditEntry(
        client_id=principal.client_id or "",
        actor=principal.actor[0] if principal.actor else None,
        subject=principal.subject,
        operation=operation,
        todo_id=todo_id,
        detail=detail[:255],
    ))  # fmt: skip


def read_audit(session: Session, *, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
    count = session.exec(select(func.count()).select_from(AuditEntry)).one()
    page = session.exec(
        select(AuditEntry).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id)).offset(offset).limit(limit)
    ).all()
    return list(page), count

"""reminders' domain: the caller's reminders, the record that makes a reminder go out once, and the scan.

"Once" is the `sent_reminders` row: committed *before* the mail goes out, so a second run, in this
process or another, finds it and sends nothing. If the mail fails, the row is deleted and a later run
retries. A crash between the commit and the send loses that one reminder rather than sending it twice
(at most once, by design).

Reading the reminders back goes through one query, `readable_reminders(principal)`: the caller's own.
The calls to todos and the directory are in `clients`, the mail in `mail`, the schedule in `scheduler`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

import authz
from authz import Principal
from reminders import clients
from reminders.mail import MAIL_ERRORS, build_message, send_mail
from reminders.models import DueTodo, RunResult, SentReminder
from reminders.settings import Settings

log = logging.getLogger("reminders")


# --- reading the caller's reminders ------------------------------------------------------------------


def readable_reminders(principal: Principal) -> SelectOfScalar[SentReminder]:
    """The reminders `principal` may see: the ones sent to them (by `sub`, never by e-mail address)."""
    return select(SentReminder).where(col(SentReminder.owner_id) == principal.subject)


def list_own_reminders(
    session: Session, principal: Principal, *, offset: int = 0, limit: int = 50
) -> tuple[list[SentReminder], int]:
    """The caller's reminders, newest first, paged, with the total count."""
    statement = readable_reminders(principal)
    count = session.exec(select(func.count()).select_from(statement.subquery())).one()
    page = session.exec(
        statement.order_by(col(SentReminder.sent_at).desc(), col(SentReminder.id)).offset(offset).limit(limit)
    ).all()
    return list(page), count


# --- the record that makes a reminder go out once ------------------------------------------------------


def already_sent(engine: Engine, todo: DueTodo) -> bool:
    with Session(engine) as session:
        statement = select(SentReminder.id).where(
            col(SentReminder.todo_id) == todo.id, col(SentReminder.due_at) == todo.due_at
        )
        return session.exec(statement).first() is not None


def claim(engine: Engine, todo: DueTodo, email: str) -> uuid.UUID | None:
    """Record the reminder as sent; None if it already was (the unique constraint decides, not a read)."""
    reminder = SentReminder(todo_id=todo.id, due_at=todo.due_at, owner_id=todo.owner_id, email=email, title=todo.title)
    reminder_id = reminder.id
    with Session(engine) as session:
        session.add(reminder)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None
    return reminder_id


def release(engine: Engine, reminder_id: uuid.UUID) -> None:
    """Forget a reminder whose mail did not go out, so that a later run sends it."""
    with Session(engine) as session:
        reminder = session.get(SentReminder, reminder_id)
        if reminder is not None:
            session.delete(reminder)
            session.commit()


# --- the scan --------------------------------------------------------------------------------------------


async def scan(engine: Engine, http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> RunResult:
    """One pass: mail a reminder for every todo falling due soon that has not had one for this due time.

    A todo that cannot be reminded (owner unknown to the directory, mail refused) counts as `failed`
    and the pass goes on. A todos or directory that cannot be reached, or a refused token, stops the
    pass with its `httpx.HTTPError` / `authz.OutboundAuthError` (502 for `POST /reminders/run`).
    """
    due = await clients.TodosClient(http, oauth, settings).due_soon()
    directory = clients.directory(http, oauth, settings)
    result = RunResult(found=len(due))
    emails: dict[str, str | None] = {}
    for todo in due:
        # Checked first so a reminder already sent costs no directory call; `claim` still decides.
        if await asyncio.to_thread(already_sent, engine, todo):
            result.already_sent += 1
            continue
        if todo.owner_id not in emails:
            owner = await directory.get(todo.owner_id)
            emails[todo.owner_id] = (owner.email or None) if owner is not None else None
        email = emails[todo.owner_id]
        if email is None:
            log.warning("todo %s: owner %s has no e-mail in the user directory; not reminded", todo.id, todo.owner_id)
            result.failed += 1
            continue
        try:
            message = build_message(todo, email, settings)
        except ValueError as e:  # e.g. a directory address that is no valid header
            log.warning("todo %s: no reminder could be written (%s)", todo.id, e)
            result.failed += 1
            continue
        reminder_id = await asyncio.to_thread(claim, engine, todo, email)
        if reminder_id is None:
            result.already_sent += 1  # another run got there between the check and the claim
            continue
        try:
            await asyncio.to_thread(send_mail, message, email, settings)
        except MAIL_ERRORS as e:
            await asyncio.to_thread(release, engine, reminder_id)
            log.warning("todo %s: the reminder mail failed (%r); a later run retries", todo.id, e)
            result.failed += 1
            continue
        result.sent += 1
    log.info("reminder scan: %s", result.model_dump())
    return result

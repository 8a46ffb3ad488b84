"""The scan: which todos fall due soon, whose they are, and a reminder mailed once for each.

reminders acts as itself here, never for a user: its own client-credentials token for todos (scope
`todos:due:read`, the only thing it may read there) and another for identity's user directory
(`users:read`). Each token is fetched once and reused until shortly before it expires (`OAuthClient`).

"Once" is the `sent_reminders` row: committed *before* the mail goes out, so a second run, in this
process or another, finds it and sends nothing. If the mail fails, the row is deleted and a later run
retries. A crash between the commit and the send loses that one reminder rather than sending it twice
(at most once, by design).

Reading the reminders back goes through one query, `readable_reminders(principal)`: the caller's own.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

import authz
from authz import Principal
from reminders.models import DirectoryUser, DueTodo, DueTodos, RunResult, SentReminder
from reminders.settings import Settings

log = logging.getLogger("reminders")

#: The one scope reminders asks todos for, and the one it asks identity for.
DUE_SCOPE = "todos:due:read"
USERS_SCOPE = "users:read"
SMTP_TIMEOUT_SECONDS = 10.0


class UpstreamResponseError(httpx.HTTPError):
    """Another service answered, but not with what its contract promises.

    An `httpx.HTTPError`, so `install_problem_handlers` answers it like any failed call to another
    service (502), and the run-once command treats it as a scan that could not run.
    """


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


# --- outbound calls, with reminders' own tokens ------------------------------------------------------


async def fetch_due(http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> list[DueTodo]:
    """todos' due-soon query: the todos of every user falling due within `window_seconds`."""
    response = await http.get(
        f"{settings.todos_url.rstrip('/')}/todos/due",
        params={"within_seconds": settings.window_seconds},
        auth=oauth.client_credentials(settings.todos_audience, DUE_SCOPE),
    )
    response.raise_for_status()  # an httpx.HTTPError: a 502 problem for the caller of /reminders/run
    try:
        due = DueTodos.model_validate_json(response.content)
    except ValidationError as e:
        raise UpstreamResponseError("todos answered the due-soon query with an unexpected body") from e
    if due.count > len(due.data):
        log.warning(
            "todos reported %d due todos but listed %d; the rest wait for the next run", due.count, len(due.data)
        )
    return due.data


async def find_email(
    http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings, owner_id: str
) -> str | None:
    """The owner's e-mail address from identity's user directory; None if there is no such user (404)."""
    assert settings.directory_url is not None  # filled in by Settings
    response = await http.get(
        f"{settings.directory_url.rstrip('/')}/{quote(owner_id, safe='')}",
        auth=oauth.client_credentials(settings.identity_audience, USERS_SCOPE),
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    try:
        user = DirectoryUser.model_validate_json(response.content)
    except ValidationError as e:
        raise UpstreamResponseError("the user directory answered with an unexpected body") from e
    return user.email or None


# --- mail ----------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    # A title is user input: no line break may reach a mail header (header injection).
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def build_message(todo: DueTodo, email: str, settings: Settings) -> EmailMessage:
    title = _one_line(todo.title)
    due = f"{todo.due_at:%Y-%m-%d %H:%M} UTC"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = email
    message["Subject"] = f"Reminder: {title}"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "todo-suite.test")
    message["X-Todo-Id"] = str(todo.id)
    message.set_content(f'Your todo "{title}" is due at {due}.\n\n-- reminders, todo-suite\n')
    return message


def send_mail(message: EmailMessage, email: str, settings: Settings) -> None:
    """Hand the message to the SMTP server (blocking: call it in a thread)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        smtp.send_message(message, to_addrs=[email])


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
    due = await fetch_due(http, oauth, settings)
    result = RunResult(found=len(due))
    emails: dict[str, str | None] = {}
    for todo in due:
        # Checked first so a reminder already sent costs no directory call; `claim` still decides.
        if await asyncio.to_thread(already_sent, engine, todo):
            result.already_sent += 1
            continue
        if todo.owner_id not in emails:
            emails[todo.owner_id] = await find_email(http, oauth, settings, todo.owner_id)
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
        except (smtplib.SMTPException, OSError, UnicodeError) as e:
            await asyncio.to_thread(release, engine, reminder_id)
            log.warning("todo %s: the reminder mail failed (%r); a later run retries", todo.id, e)
            result.failed += 1
            continue
        result.sent += 1
    log.info("reminder scan: %s", result.model_dump())
    return result


class Scanner:
    """The scan with this process's resources, one run at a time: the schedule and `POST /reminders/run`
    share it, so a run asked for while another is under way waits and then finds the work done."""

    def __init__(self, engine: Engine, http: httpx.AsyncClient, oauth: authz.OAuthClient, settings: Settings) -> None:
        self.engine = engine
        self.http = http
        self.oauth = oauth
        self.settings = settings
        self._lock = asyncio.Lock()

    async def run(self) -> RunResult:
        async with self._lock:
            return await scan(self.engine, self.http, self.oauth, self.settings)


async def run_every(scanner: Scanner, interval_seconds: float) -> None:
    """The background schedule: a scan now, then one every `interval_seconds`, until cancelled.

    A failed run (todos or identity down, a refused token) is logged and the next one tries again.
    """
    while True:
        try:
            await scanner.run()
        except Exception:
            log.exception("the reminder scan failed; retrying in %s s", interval_seconds)
        await asyncio.sleep(interval_seconds)

"""The server-side session store (blocking database calls: run them with `servicekit.in_thread`).

The cookie carries 256 random bits; the table is keyed by their SHA-256, so a read of the table (a backup,
a log of queries) yields no cookie anyone could present. A sign-in replaces the session with a new one
(a new cookie), so a cookie planted before the sign-in is worth nothing after it (session fixation).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col

from web.models import WebSession, utcnow


def _aware(value: datetime | None) -> datetime | None:
    # SQLite keeps no timezone: what was written as UTC comes back naive.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _loaded(row: WebSession | None) -> WebSession | None:
    if row is not None:
        row.expires_at = _aware(row.expires_at) or row.expires_at
        row.access_expires_at = _aware(row.access_expires_at)
    return row


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def key_of(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def create(engine: Engine, lifetime: timedelta, row: WebSession | None = None) -> tuple[str, WebSession]:
    """A new session, from `row`'s fields if given (its key, CSRF token and expiry are made here):
    (the cookie value for the browser, the stored row)."""
    cookie = new_secret()
    row = row or WebSession(id="", csrf_token="", expires_at=utcnow())
    row.id, row.csrf_token, row.expires_at = key_of(cookie), new_secret(), utcnow() + lifetime
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return cookie, row


def load(engine: Engine, cookie: str, now: datetime | None = None) -> WebSession | None:
    """The live session this cookie names, or None (unknown, or expired: then it is deleted)."""
    with Session(engine, expire_on_commit=False) as session:
        row = _loaded(session.get(WebSession, key_of(cookie)))
        if row is None:
            return None
        if row.expires_at <= (now or utcnow()):
            session.delete(row)
            session.commit()
            return None
        return row


def get(engine: Engine, row_id: str) -> WebSession | None:
    """The row as stored now (another request of the session may have changed it)."""
    with Session(engine, expire_on_commit=False) as session:
        return _loaded(session.get(WebSession, row_id))


def save(engine: Engine, row: WebSession) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.merge(row)
        session.commit()


def remove(engine: Engine, row_id: str) -> None:
    with Session(engine) as session:
        session.exec(delete(WebSession).where(col(WebSession.id) == row_id))
        session.commit()


def purge_expired(engine: Engine, now: datetime | None = None) -> None:
    with Session(engine) as session:
        session.exec(delete(WebSession).where(col(WebSession.expires_at) <= (now or utcnow())))
        session.commit()

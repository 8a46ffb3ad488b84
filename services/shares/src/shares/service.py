"""shares' domain: who may see a share record, and the workflow around a grant, decided in one place.

`readable_shares` is the only query that hands out records to a caller: the sender's own. A record
someone else sent is indistinguishable from one that does not exist (404). Grantees learn of their
shares through todos ("received"), where the grant is the truth; this table only adds the note.

Sharing is a workflow across two services (`create_share`): a *pending* record, the grant in todos for
the user, then *active*. A refusal is a `shares.errors.ShareError`; the routes answer it.

The record functions are synchronous database work; the async workflows run each in a worker thread
(`servicekit.in_thread`), so the event loop never waits on the database (docs/architecture.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import anyio
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from authz import Principal
from servicekit import in_thread
from servicekit.directory import DirectoryClient, DirectoryUser
from shares.clients import TodosClient
from shares.errors import AlreadyShared, InvalidGrantee, NotTodoOwner, ShareNotFound, TodoNotVisible
from shares.models import ACTIVE, PENDING, Share, ShareCreate

#: A pending record older than this belongs to a request that died between writing it and hearing from
#: todos (a crashed process, or a database that failed while the record was being removed): the next
#: share of the same todo with the same user takes it over. Far longer than one request can take, whose
#: two outbound calls (token exchange, grant) are each bounded by the HTTP client's timeout.
ABANDONED_AFTER = timedelta(minutes=2)


# --- reading records -------------------------------------------------------------------------------------


def readable_shares(principal: Principal) -> SelectOfScalar[Share]:
    """The share records `principal` may see and revoke: those they sent."""
    return select(Share).where(col(Share.owner_id) == principal.subject)


def get_share(session: Session, principal: Principal, share_id: uuid.UUID) -> Share | None:
    return session.exec(readable_shares(principal).where(Share.id == share_id)).first()


def list_sent(session: Session, principal: Principal, *, offset: int = 0, limit: int = 50) -> tuple[list[Share], int]:
    """The caller's shares, newest first, with the total count."""
    count = session.exec(select(func.count()).select_from(Share).where(col(Share.owner_id) == principal.subject)).one()
    page = session.exec(
        readable_shares(principal).order_by(col(Share.created_at).desc(), col(Share.id)).offset(offset).limit(limit)
    ).all()
    return list(page), count


def find_share(session: Session, todo_id: uuid.UUID, grantee_id: str) -> Share | None:
    """The record for this todo and grantee, whoever sent it: for the duplicate check only, never shown."""
    return session.exec(select(Share).where(Share.todo_id == todo_id, Share.grantee_id == grantee_id)).first()


def received_records(session: Session, principal: Principal, todos: Iterable[dict[str, Any]]) -> dict[uuid.UUID, Share]:
    """The records behind todos shared with the caller, by todo id.

    Only a record whose sender is the todo's owner (as todos says) is joined: the API keeps no other, and
    if one were there its note would not be the owner's to show.
    """
    owners = {uuid.UUID(str(todo["id"])): todo.get("owner_id") for todo in todos}
    if not owners:
        return {}
    statement = select(Share).where(col(Share.grantee_id) == principal.subject, col(Share.todo_id).in_(list(owners)))
    return {share.todo_id: share for share in session.exec(statement).all() if owners[share.todo_id] == share.owner_id}


async def list_received(
    session: Session, principal: Principal, *, todos: TodosClient, offset: int = 0, limit: int = 50
) -> tuple[list[tuple[dict[str, Any], Share | None]], int]:
    """The todos shared with the caller, as todos pages them for the caller, each with the record behind
    it (None where there is none), and todos' total count."""
    page = await todos.shared_with_me(principal, offset=offset, limit=limit)
    records = await in_thread(received_records, session, principal, page.data)
    return [(todo, records.get(uuid.UUID(str(todo["id"])))) for todo in page.data], page.count


# --- the steps of a record -------------------------------------------------------------------------------


def add_pending(session: Session, principal: Principal, data: ShareCreate, grantee: DirectoryUser) -> Share | None:
    """Write the record as pending and commit it, before the grant is asked for; None if one exists already."""
    share = Share(
        todo_id=data.todo_id,
        owner_id=principal.subject,
        grantee_id=grantee.id,
        grantee_username=grantee.username,
        note=data.note,
        status=PENDING,
    )
    session.add(share)
    try:
        session.commit()
    except IntegrityError:  # a concurrent request wrote the same (todo, grantee) first
        session.rollback()
        return None
    session.refresh(share)
    return share


def is_abandoned(share: Share, *, now: datetime | None = None) -> bool:
    """A pending record whose request is long gone (see `ABANDONED_AFTER`)."""
    created = share.created_at if share.created_at.tzinfo else share.created_at.replace(tzinfo=UTC)  # SQLite
    return share.status == PENDING and (now or datetime.now(UTC)) - created > ABANDONED_AFTER


def take_over(session: Session, share: Share, data: ShareCreate) -> Share:
    """Make an abandoned pending record this request's own: its note, a fresh start."""
    share.note = data.note
    share.created_at = datetime.now(UTC)
    session.add(share)
    session.commit()
    session.refresh(share)
    return share


def activate(session: Session, share: Share) -> Share:
    share.status = ACTIVE
    session.add(share)
    session.commit()
    session.refresh(share)
    return share


def remove(session: Session, share: Share) -> None:
    session.delete(share)
    session.commit()


# --- the workflows ---------------------------------------------------------------------------------------


async def create_share(
    session: Session,
    principal: Principal,
    data: ShareCreate,
    *,
    directory: DirectoryClient,
    todos: TodosClient,
) -> Share:
    """Share the caller's todo with a user: a pending record, the grant in todos for the caller, then active.

    Raises `InvalidGrantee` (unknown user, or the caller), `AlreadyShared`; todos' refusals of the grant
    (`TodoNotVisible`, `NotTodoOwner`, `GrantInvalid`); `UpstreamError` / `httpx.HTTPError` /
    `authz.OutboundAuthError` when todos or identity cannot be asked. Whatever ends the workflow before
    todos confirms the grant — a refusal, a failed call, or the request being cancelled (the client gone,
    the server stopping) — removes the pending record on the way out: no record stays for a grant that
    was not confirmed. Two cases remain, each documented in services/shares/README.md:

    - todos made the grant but the request was cancelled before its answer arrived: the grant is there
      without a record. Sharing again repairs it (the grant is idempotent: todos answers 200).
    - the process died, or the database failed, between the pending write and its removal: the record
      stays pending. After `ABANDONED_AFTER` the next share of that todo with that user takes it over.
    """
    grantee = await _grantee(principal, data.username, directory)

    # One record per todo and grantee; the table's unique constraint catches a concurrent twin.
    share = None
    existing = await in_thread(find_share, session, data.todo_id, grantee.id)
    if existing is None:
        share = await in_thread(add_pending, session, principal, data, grantee)
    elif existing.owner_id == principal.subject and is_abandoned(existing):
        share = await in_thread(take_over, session, existing, data)
    if share is None:
        await _refuse_duplicate(session, todos, principal, data.todo_id, grantee.id)

    confirmed = False
    try:
        await todos.grant(principal, share.todo_id, share.grantee_id)
        confirmed = True
    finally:
        # `finally`, not `except Exception`: a cancelled request (asyncio.CancelledError) cleans up too. The
        # removal is shielded, so the cancellation cannot interrupt it while it waits for its worker thread.
        if not confirmed:
            with anyio.CancelScope(shield=True):
                await in_thread(remove, session, share)
    return await in_thread(activate, session, share)


async def revoke_share(session: Session, principal: Principal, share_id: uuid.UUID, *, todos: TodosClient) -> None:
    """Revoke a share the caller sent: the grant in todos first (for the caller), then the record.

    A grant todos no longer has is already revoked. If todos refuses (`NotTodoOwner`) or cannot be asked,
    the record stays, since the grant may still be there. `ShareNotFound` if the caller sent no such share.
    """
    share = await in_thread(get_share, session, principal, share_id)
    if share is None:
        raise ShareNotFound()
    await todos.revoke(principal, share.todo_id, share.grantee_id)
    await in_thread(remove, session, share)


async def _grantee(principal: Principal, username: str, directory: DirectoryClient) -> DirectoryUser:
    if principal.username is not None and username == principal.username:
        raise InvalidGrantee("you cannot share with yourself")
    grantee = await directory.find(username)
    if grantee is None:
        raise InvalidGrantee(f"no user named {username!r}")
    if grantee.id == principal.subject:
        raise InvalidGrantee("you cannot share with yourself")
    return grantee


async def _refuse_duplicate(
    session: Session, todos: TodosClient, principal: Principal, todo_id: uuid.UUID, grantee_id: str
) -> NoReturn:
    """Refuse a share that exists already: `AlreadyShared` to the todo's owner, and to anyone else what
    todos would say. Telling someone else that it exists would tell them whom the todo is shared with."""
    existing = await in_thread(find_share, session, todo_id, grantee_id)
    if existing is None or existing.owner_id != principal.subject:
        owner = await todos.owner_of(principal, todo_id)
        if owner is None:
            raise TodoNotVisible()
        if owner != principal.subject:
            raise NotTodoOwner()
    raise AlreadyShared()

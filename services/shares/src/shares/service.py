"""Share records: who may see one, and the steps of the sharing workflow, decided in one place.

`readable_shares` is the only query that hands out records to a caller: the sender's own. A record
someone else sent is indistinguishable from one that does not exist (404). Grantees learn of their
shares through todos ("received"), where the grant is the truth; this table only adds the note.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from authz import Principal
from shares.clients import DirectoryUser
from shares.models import ACTIVE, PENDING, Share, ShareCreate


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


def activate(session: Session, share: Share) -> Share:
    share.status = ACTIVE
    session.add(share)
    session.commit()
    session.refresh(share)
    return share


def remove(session: Session, share: Share) -> None:
    session.delete(share)
    session.commit()


def received_records(session: Session, principal: Principal, todos: Iterable[dict]) -> dict[uuid.UUID, Share]:
    """The records behind todos shared with the caller, by todo id.

    Only a record whose sender is the todo's owner (as todos says) is joined: the API keeps no other, and
    if one were there its note would not be the owner's to show.
    """
    owners = {uuid.UUID(str(todo["id"])): todo.get("owner_id") for todo in todos}
    if not owners:
        return {}
    statement = select(Share).where(col(Share.grantee_id) == principal.subject, col(Share.todo_id).in_(list(owners)))
    return {share.todo_id: share for share in session.exec(statement).all() if owners[share.todo_id] == share.owner_id}

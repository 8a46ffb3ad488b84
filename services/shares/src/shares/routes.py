"""The shares API: share my todo, list what I sent and what I received, revoke; `/shares/whoami`.

Every call into todos is made on behalf of the caller (token exchange), so todos, which holds the
grants, decides whether the caller may share that todo; shares keeps the workflow around it.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from sqlmodel import Session

from authz import Principal
from servicekit.paging import Limit, Offset
from shares import service
from shares.auth import AnyCaller, SharesRead, SharesWrite
from shares.clients import Todos, bad_gateway
from shares.deps import DirectoryDep, SessionDep, SettingsDep, TodosDep
from shares.models import (
    ReceivedPublic,
    ReceivedSharesPublic,
    ShareCreate,
    SharePublic,
    SharesPublic,
)
from shares.settings import SERVICE_NAME

router = APIRouter(prefix="/shares", tags=["shares"])

NOT_FOUND = "no share with this id is visible to you"
TODO_NOT_FOUND = "no todo with this id is visible to you"
#: How todos' refusal of a grant reaches the caller; any other answer is a 502.
GRANT_REFUSED = {
    status.HTTP_404_NOT_FOUND: TODO_NOT_FOUND,
    status.HTTP_403_FORBIDDEN: "you may see this todo but not share it: only its owner can",
    status.HTTP_422_UNPROCESSABLE_CONTENT: "todos refused this grant as invalid (is the grantee the todo's owner?)",
}


@router.get("/whoami")
def whoami(principal: AnyCaller) -> dict[str, Any]:
    """The caller as shares sees it (never the raw token)."""
    return {"service": SERVICE_NAME, **principal.whoami()}


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_share(
    principal: SharesWrite,
    session: SessionDep,
    settings: SettingsDep,
    directory: DirectoryDep,
    todos: TodosDep,
    body: ShareCreate,
    response: Response,
) -> SharePublic:
    """Share the caller's todo with a user: a pending record, the grant in todos for the caller, then active.

    422 for an unknown grantee or yourself, 409 if this todo is already shared with them. If todos refuses
    (404 not visible, 403 not the owner, 422) the same status comes back and the record is removed; if
    todos cannot be asked, 502, and the record is removed too.
    """
    if len(body.note) > settings.note_max:
        raise RequestValidationError(
            [{"loc": ("body", "note"), "msg": f"at most {settings.note_max} characters", "type": "string_too_long"}]
        )
    if principal.username is not None and body.username == principal.username:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "you cannot share with yourself")
    grantee = await directory.find(body.username)
    if grantee is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no user named {body.username!r}")
    if grantee.id == principal.subject:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "you cannot share with yourself")

    # One record per todo and grantee; the table's unique constraint catches a concurrent twin.
    share = None
    if service.find_share(session, body.todo_id, grantee.id) is None:
        share = service.add_pending(session, principal, body, grantee)
    if share is None:
        await _refuse_duplicate(session, todos, principal, body.todo_id, grantee.id)
    try:
        answer = await todos.grant(principal, share.todo_id, share.grantee_id)
    except BaseException:
        # No token, todos unreachable, or the request cancelled: no grant was confirmed, so no record stays.
        service.remove(session, share)
        raise
    if answer.status_code not in (status.HTTP_200_OK, status.HTTP_201_CREATED):
        service.remove(session, share)
        if answer.status_code in GRANT_REFUSED:
            raise HTTPException(answer.status_code, GRANT_REFUSED[answer.status_code])
        raise bad_gateway("todos did not make the grant", answer)
    share = service.activate(session, share)
    response.headers["Location"] = f"/shares/{share.id}"
    return SharePublic.model_validate(share)


@router.get("/sent")
def read_sent(
    principal: SharesRead,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> SharesPublic:
    """The shares the caller sent, newest first."""
    shares, count = service.list_sent(session, principal, offset=offset, limit=min(limit, settings.page_size_max))
    return SharesPublic(data=[SharePublic.model_validate(s) for s in shares], count=count)


@router.get("/received")
async def read_received(
    principal: SharesRead,
    session: SessionDep,
    settings: SettingsDep,
    todos: TodosDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> ReceivedSharesPublic:
    """The todos shared with the caller, as todos answers for them, each with the sender's note if recorded."""
    page = await todos.shared_with_me(principal, offset=offset, limit=min(limit, settings.page_size_max))
    records = service.received_records(session, principal, page.data)
    data = []
    for todo in page.data:
        record = records.get(uuid.UUID(str(todo["id"])))
        data.append(ReceivedPublic(todo=todo, share=SharePublic.model_validate(record) if record else None))
    return ReceivedSharesPublic(data=data, count=page.count)


@router.delete("/{share_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_share(principal: SharesWrite, session: SessionDep, todos: TodosDep, share_id: uuid.UUID) -> None:
    """Revoke a share the caller sent: the grant in todos first (for the caller), then the record.

    A grant todos no longer has (404) is already revoked. If todos refuses (403) or cannot be asked (502),
    the record stays, since the grant may still be there.
    """
    share = service.get_share(session, principal, share_id)
    if share is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    answer = await todos.revoke(principal, share.todo_id, share.grantee_id)
    if answer.status_code == status.HTTP_403_FORBIDDEN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "todos does not let you change this todo's grants")
    if answer.status_code not in (status.HTTP_204_NO_CONTENT, status.HTTP_404_NOT_FOUND):
        raise bad_gateway("todos did not revoke the grant", answer)
    service.remove(session, share)


async def _refuse_duplicate(
    session: Session, todos: Todos, principal: Principal, todo_id: uuid.UUID, grantee_id: str
) -> NoReturn:
    """Refuse a share that exists already: 409 to the todo's owner, and to anyone else what todos would say.

    A 409 for someone else's todo would tell them that it exists and whom it is shared with.
    """
    existing = service.find_share(session, todo_id, grantee_id)
    if existing is None or existing.owner_id != principal.subject:
        owner = await todos.owner_of(principal, todo_id)
        if owner is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, TODO_NOT_FOUND)
        if owner != principal.subject:
            raise HTTPException(status.HTTP_403_FORBIDDEN, GRANT_REFUSED[status.HTTP_403_FORBIDDEN])
    raise HTTPException(status.HTTP_409_CONFLICT, "this todo is already shared with this user")

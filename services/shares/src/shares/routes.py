"""The shares API: share my todo, list what I sent and what I received, revoke; `/shares/whoami`.

Every call into todos is made on behalf of the caller (token exchange), so todos, which holds the
grants, decides whether the caller may share that todo; shares keeps the workflow around it.
Handlers that call todos are `async`; their database work goes to a worker thread (`in_thread`), never
onto the event loop. Those that only read the database are plain `def` (FastAPI runs them in a thread).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError

from servicekit.paging import Limit, Offset
from servicekit.upstream import UpstreamError
from shares import errors, service
from shares.auth import AnyCaller, SharesRead, SharesWrite
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

#: How each refusal of the workflow reaches the caller.
REFUSAL_STATUS: dict[type[errors.ShareError], int] = {
    errors.InvalidGrantee: status.HTTP_422_UNPROCESSABLE_CONTENT,
    errors.GrantInvalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
    errors.AlreadyShared: status.HTTP_409_CONFLICT,
    errors.TodoNotVisible: status.HTTP_404_NOT_FOUND,
    errors.ShareNotFound: status.HTTP_404_NOT_FOUND,
    errors.NotTodoOwner: status.HTTP_403_FORBIDDEN,
}


@contextmanager
def answered_as_problems() -> Iterator[None]:
    """The domain's refusals as their status, and another service's answer outside its contract as 502
    (`bad-gateway`, naming the step that failed); install_problem_handlers renders both."""
    try:
        yield
    except errors.ShareError as e:
        raise HTTPException(REFUSAL_STATUS[type(e)], e.detail) from e
    except UpstreamError as e:
        # Unavailable (its database restarting, say) is passed on as such, with its Retry-After: the caller
        # may retry. Anything else outside todos' contract is a bad gateway.
        if e.response is not None and e.response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            retry_after = {"Retry-After": e.response.headers.get("Retry-After", "2")}
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, e.what, headers=retry_after) from e
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, e.what) from e


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
    with answered_as_problems():
        share = await service.create_share(session, principal, body, directory=directory, todos=todos)
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
    with answered_as_problems():
        received, count = await service.list_received(
            session, principal, todos=todos, offset=offset, limit=min(limit, settings.page_size_max)
        )
    data = [
        ReceivedPublic(todo=todo, share=SharePublic.model_validate(record) if record else None)
        for todo, record in received
    ]
    return ReceivedSharesPublic(data=data, count=count)


@router.delete("/{share_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_share(principal: SharesWrite, session: SessionDep, todos: TodosDep, share_id: uuid.UUID) -> None:
    """Revoke a share the caller sent: the grant in todos first (for the caller), then the record.

    A grant todos no longer has (404) is already revoked. If todos refuses (403) or cannot be asked (502),
    the record stays, since the grant may still be there.
    """
    with answered_as_problems():
        await service.revoke_share(session, principal, share_id, todos=todos)

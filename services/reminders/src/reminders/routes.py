"""The reminders API: `/reminders` for a user's own reminders, `/reminders/run` for an admin,
`/reminders/whoami` for any caller."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from reminders import service
from reminders.auth import AnyCaller, RemindersRead, RemindersRun
from reminders.deps import ScannerDep, SessionDep, SettingsDep
from reminders.models import ReminderPublic, RemindersPublic, RunResult
from reminders.settings import SERVICE_NAME
from servicekit.paging import Limit, Offset

router = APIRouter(prefix="/reminders", tags=["reminders"])
log = logging.getLogger("reminders")


@router.get("/whoami")
def whoami(principal: AnyCaller) -> dict[str, Any]:
    """The caller as reminders sees it (never the raw token)."""
    return {"service": SERVICE_NAME, **principal.whoami()}


@router.get("")
def read_reminders(
    principal: RemindersRead,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> RemindersPublic:
    """The reminders sent to the caller, newest first; page with offset/limit."""
    reminders, count = service.list_own_reminders(
        session, principal, offset=offset, limit=min(limit, settings.page_size_max)
    )
    return RemindersPublic(data=[ReminderPublic.model_validate(r) for r in reminders], count=count)


@router.post("/run")
async def run_now(principal: RemindersRun, scanner: ScannerDep) -> RunResult:
    """Scan now instead of waiting for the schedule (waits for a run already under way)."""
    log.info("reminder scan asked for by %s", principal.subject)
    return await scanner.run()

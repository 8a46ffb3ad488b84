"""When the scan runs: one at a time per process (`Scanner`), on a schedule (`run_every`) and on demand."""

from __future__ import annotations

import asyncio
import logging

import httpx
from sqlalchemy import Engine

import authz
from reminders.models import RunResult
from reminders.service import scan
from reminders.settings import Settings

log = logging.getLogger("reminders")


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

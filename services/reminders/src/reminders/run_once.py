"""One scan and exit, for a Kubernetes CronJob: `python -m reminders.run_once`.

The same scan as the service's schedule, built outside FastAPI from the same `REMINDERS_*` and `AUTHZ_*`
settings. Prints the result as JSON. Exit status: 0 when every due todo was reminded (or already had
been), 1 when some reminder failed (the next run retries it), 2 when the scan could not run at all.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import httpx
from pydantic import ValidationError

import authz
from reminders.models import RunResult
from reminders.service import scan
from reminders.settings import Settings
from servicekit import make_engine, upgrade_to_head

log = logging.getLogger("reminders")


async def run(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> RunResult:
    engine = make_engine(settings.database_url)
    try:
        # The CronJob may run before the service ever has: the schema to head first (a no-op when it is).
        upgrade_to_head(engine, "reminders.migrations")
        async with httpx.AsyncClient(
            transport=transport,
            mounts=authz.unix_socket_mounts(settings.authz.unix_sockets),
            timeout=settings.authz.http_timeout_seconds,
        ) as http:
            oauth = authz.OAuthClient(
                http,
                settings.authz,
                client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(),
            )
            return await scan(engine, http, oauth, settings)
    finally:
        engine.dispose()


def main(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> int:
    """Run one scan; `settings` and `transport` are for tests (by default: the environment, the network)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings or Settings()
    except ValidationError as e:
        print(f"reminders: invalid settings:\n{e}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(run(settings, transport=transport))
    except (httpx.HTTPError, authz.OutboundAuthError) as e:
        log.error("the reminder scan could not run: %r", e)
        return 2
    print(result.model_dump_json())
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m reminders.migrate`: bring reminders' schema to the newest revision and exit (a Kubernetes init container).

Reads only `REMINDERS_DATABASE_URL` (default: the service's own default), not the service's full settings, so the
init container needs no secrets or other configuration. Prints what it did. Exit status: 0 when the schema
is at head, 2 with one line on stderr when the database is unreachable or its schema is refused (see
`servicekit.migrations.migrate_command`).
"""

from __future__ import annotations

import sys

from reminders.settings import Settings
from servicekit.migrations import migrate_main

if __name__ == "__main__":
    sys.exit(migrate_main("reminders.migrations", Settings))

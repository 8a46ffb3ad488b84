"""`python -m shares.migrate`: bring shares' schema to the newest revision and exit (a Kubernetes init container).

Reads only `SHARES_DATABASE_URL` (default: the service's own default), not the service's full settings, so the
init container needs no secrets or other configuration. Prints what it did. Exit status: 0 when the schema
is at head, 2 with one line on stderr when the database is unreachable or its schema is refused (see
`servicekit.migrations.migrate_command`).
"""

from __future__ import annotations

import sys

from servicekit.migrations import migrate_main
from shares.settings import Settings

if __name__ == "__main__":
    sys.exit(migrate_main("shares.migrations", Settings))

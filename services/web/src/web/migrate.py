"""`python -m web.migrate`: bring web's session store to the newest revision and exit (a Kubernetes init container).

Reads only `WEB_DATABASE_URL`, not the service's full settings, so the init container needs no secrets.
Exit status: 0 at head, 2 with one line on stderr when the database is unreachable or its schema refused.
"""

from __future__ import annotations

import sys

from servicekit.migrations import migrate_main
from web.settings import Settings

if __name__ == "__main__":
    sys.exit(migrate_main("web.migrations", Settings))

"""web's schema migrations (Alembic): the session store.

Run by `servicekit.migrations` (see docs/migrations.md). `env.py` is Alembic's entry point; `versions/` holds the
revisions (not a package: Alembic loads them by path).
"""

#: web's own version table, so that services could share one database without sharing a revision history.
VERSION_TABLE = "alembic_version_web"
#: The modules declaring web's SQLModel tables (autogenerate and the drift test compare against them).
MODELS = ("web.models",)
#: web had migrations from its first day; its first revision is the baseline every service names.
BASELINE = "0001"

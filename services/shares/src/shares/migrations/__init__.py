"""shares' schema migrations (Alembic): share records.

Run by `servicekit.migrations` (see docs/migrations.md). `env.py` is Alembic's entry point; `versions/` holds the
revisions (not a package: Alembic loads them by path).
"""

#: shares' own version table, so that services could share one database without sharing a revision history.
VERSION_TABLE = "alembic_version_shares"
#: The modules declaring shares' SQLModel tables (autogenerate and the drift test compare against them).
MODELS = ("shares.models",)
#: The revision whose schema is what `SQLModel.metadata.create_all` made before there were migrations:
#: stamped onto such a database (servicekit.migrations._adopt_pre_alembic_schema).
BASELINE = "0001"

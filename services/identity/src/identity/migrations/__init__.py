"""identity's schema migrations (Alembic): signing keys, revoked tokens, phantom tokens, and sign-in state.

Run by `servicekit.migrations` (see docs/migrations.md). `env.py` is Alembic's entry point; `versions/` holds the
revisions (not a package: Alembic loads them by path).
"""

#: identity's own version table, so that services could share one database without sharing a revision history.
VERSION_TABLE = "alembic_version_identity"
#: The modules declaring identity's SQLModel tables (autogenerate and the drift test compare against them).
MODELS = ("identity.models",)
#: The revision whose schema is what `SQLModel.metadata.create_all` made before there were migrations:
#: stamped onto such a database (servicekit.migrations._adopt_pre_alembic_schema).
BASELINE = "0001"

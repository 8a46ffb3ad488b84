"""Schema migrations with Alembic, run one way by every service that owns tables.

Each such service has a migrations package inside it (so it ships in the wheel and the image), e.g.
`todos.migrations`: an `env.py` that calls `run_env`, `script.py.mako`, `versions/`, and an `__init__.py` with

    VERSION_TABLE = "alembic_version_todos"  # its own version table: services could share one database
    MODELS = ("todos.models",)               # where its SQLModel tables are declared
    BASELINE = "0001"                        # the revision equal to what `create_all` used to make

Alembic is configured here, in code: the services need no alembic.ini (a developer's `alembic -c
services/<svc>/alembic.ini ...` runs the same `env.py`). See docs/migrations.md.

- `upgrade_to_head` at start-up (`open_resources`, identity's lifespan) and in `python -m <svc>.migrate`,
  the Kubernetes init container. On PostgreSQL it holds an advisory lock, so replicas starting together
  take turns; the second finds the schema at head and does nothing.
- A database whose tables were made by `SQLModel.metadata.create_all` (before migrations) is adopted:
  see `_adopt_pre_alembic_schema`.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from types import ModuleType
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlmodel.main import default_registry
from sqlmodel.sql.sqltypes import AutoString

from servicekit.db import make_engine

log = logging.getLogger(__name__)

#: Exit status of `python -m <svc>.migrate` when it could not run (database unreachable, schema refused).
EXIT_CANNOT_RUN = 2


class MigrationError(RuntimeError):
    """The database is not in a state this code can migrate safely; nothing was changed."""


@dataclass(frozen=True)
class MigrationResult:
    service: str
    #: The revision found before (None: no schema, or a pre-migrations one that was adopted).
    before: str | None
    #: The revision after: the head.
    after: str | None
    #: The baseline revision stamped onto tables that `create_all` had made, if that happened.
    adopted: str | None = None

    def describe(self) -> str:
        if self.adopted:
            done = f"adopted the tables made before migrations as revision {self.adopted}"
            if self.after != self.adopted:
                done += f", then upgraded to {self.after}"
            return f"{self.service}: {done} (head)"
        if self.before == self.after:
            return f"{self.service}: already at revision {self.after} (head), nothing to do"
        return f"{self.service}: upgraded from {self.before or 'an empty schema'} to {self.after} (head)"


# --- the service's migrations package ---------------------------------------------------------------


def _package(package: str) -> ModuleType:
    return importlib.import_module(package)


def service_name(package: str) -> str:
    """`todos.migrations` -> `todos`."""
    return package.split(".", 1)[0]


def version_table(package: str) -> str:
    return str(_package(package).VERSION_TABLE)


def alembic_config(package: str, connection: Connection | None = None) -> Config:
    """Alembic's configuration for a service, built in code (no alembic.ini at run time).

    `connection` is handed to `env.py` through `Config.attributes`, Alembic's recipe for running commands
    on a connection the caller owns:
    https://alembic.sqlalchemy.org/en/latest/cookbook.html#sharing-a-connection-across-one-or-more-programmatic-migration-commands
    """
    config = Config()
    # The installed package's own folder: migrations ship inside the wheel, next to the code they fit.
    config.set_main_option("script_location", str(files(package)))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision(package: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(package)).get_current_head()


def lock_key(package: str) -> int:
    """The PostgreSQL advisory lock key of a service's migrations: a stable signed 64-bit number."""
    digest = hashlib.sha256(version_table(package).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def service_metadata(package: str) -> MetaData:
    """The tables this service's models map (a copy, in a MetaData of their own).

    SQLModel.metadata is global: a process that imports several services' models (a test run) holds all
    their tables. A service's tables are those of the SQLModel classes declared in its own package.
    """
    for module in _package(package).MODELS:
        importlib.import_module(module)
    prefix = service_name(package) + "."
    metadata = MetaData()
    tables = sorted(
        (
            m.local_table
            for m in default_registry.mappers
            if m.class_.__module__.startswith(prefix) and isinstance(m.local_table, Table)
        ),
        key=lambda t: t.name,
    )
    for table in tables:
        table.to_metadata(metadata)
    return metadata


def include_name_for(metadata: MetaData) -> Callable[..., bool]:
    """Alembic's `include_name` hook: look only at this service's tables in the database, so another
    service's tables in a shared database are neither compared nor proposed for dropping."""

    def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
        return type_ != "table" or name in metadata.tables

    return include_name


def schema_drift(connection: Connection, package: str) -> list[Any]:
    """What autogenerate would change to make the database match the service's models ([] = nothing)."""
    metadata = service_metadata(package)
    context = MigrationContext.configure(
        connection,
        opts={
            "version_table": version_table(package),
            "include_name": include_name_for(metadata),
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, metadata))


# --- env.py ---------------------------------------------------------------------------------------


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Autogenerate would render SQLModel's AutoString as `sqlmodel.sql.sqltypes.AutoString()`; it is a
    # VARCHAR, and a migration written with plain SQLAlchemy types does not depend on SQLModel.
    # https://alembic.sqlalchemy.org/en/latest/autogenerate.html#affecting-the-rendering-of-types-themselves
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_env(package: str, *, default_url: Callable[[], str]) -> None:
    """The body of every service's `env.py`, run by Alembic for each command (and a no-op when not).

    Given a connection (`alembic_config(..., connection)`, how the services run it) it migrates on that
    connection; from the `alembic` command line it opens `sqlalchemy.url` from alembic.ini if set, else
    `default_url()` (the service's `<SVC>_DATABASE_URL`, or its default).
    """
    from alembic import context  # the proxy Alembic fills in while it runs env.py

    if not hasattr(context, "config"):
        # Imported, not run by Alembic: scripts/check-isolated-deps imports every module of a package.
        return
    config = context.config
    metadata = service_metadata(package)
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "version_table": version_table(package),
        "include_name": include_name_for(metadata),
        "compare_type": True,
        "render_item": _render_item,
        # Batch mode makes ALTERs work on SQLite (which has no ALTER COLUMN: the table is copied and
        # renamed); on PostgreSQL the same script emits plain ALTERs. Always on, so a script generated
        # against either database runs on both. https://alembic.sqlalchemy.org/en/latest/batch.html
        "render_as_batch": True,
    }
    if context.is_offline_mode():  # `alembic upgrade --sql`: print the SQL instead of running it
        context.configure(url=config.get_main_option("sqlalchemy.url") or default_url(), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    # The command line: a developer's `alembic -c services/<svc>/alembic.ini ...`.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


# --- upgrade --------------------------------------------------------------------------------------


@contextmanager
def _engine(engine_or_url: Engine | str) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _migration_connection(engine: Engine, package: str) -> Iterator[Connection]:
    """A connection to migrate on, holding the service's advisory lock on PostgreSQL.

    Replicas (or init containers) starting together against one PostgreSQL database would otherwise both
    see an empty version table and both run the first migration: one would fail on "table exists". With a
    session-level `pg_advisory_lock` they take turns, and the second finds the schema at head. The lock
    is held on this connection only, outside the migration transactions, so Alembic keeps managing its
    own transactions. https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS

    SQLite needs no lock: it is one developer's file. Its foreign keys are turned off while migrating,
    as batch mode copies and drops tables that others reference:
    https://alembic.sqlalchemy.org/en/latest/batch.html#dealing-with-referencing-foreign-keys
    """
    with engine.connect() as connection:
        dialect = connection.dialect.name
        if dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(package)})
            connection.commit()
        elif dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            yield connection
            connection.commit()
        finally:
            try:
                connection.rollback()
                if dialect == "postgresql":
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(package)})
                elif dialect == "sqlite":
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
            except Exception:
                # The pool must not keep a connection that may still hold the lock (or has foreign keys
                # off): dropping it ends the session, which releases a session-level advisory lock.
                connection.invalidate()
                raise


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    # Alembic logs "Context impl PostgresqlImpl." each time a context is configured: once per real command
    # is informative, not for every peek at the version table or the scratch run of `_baseline_shape`.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_log.setLevel(level)


def _current(connection: Connection, package: str) -> str | None:
    with _quiet_alembic():
        context = MigrationContext.configure(connection, opts={"version_table": version_table(package)})
        revision: str | None = context.get_current_revision()
        return revision


def upgrade_to_head(engine_or_url: Engine | str, package: str) -> MigrationResult:
    """Bring the service's schema to the newest revision (`alembic upgrade head`); a no-op when it is there."""
    with _engine(engine_or_url) as engine, _migration_connection(engine, package) as connection:
        before = _current(connection, package)
        adopted = None
        if before is None:
            adopted = _adopt_pre_alembic_schema(connection, package)
        connection.commit()  # Alembic begins (and commits) its own transactions on this connection
        command.upgrade(alembic_config(package, connection), "head")
        after = _current(connection, package)
    result = MigrationResult(service=service_name(package), before=before, after=after, adopted=adopted)
    log.info("%s", result.describe())
    return result


def downgrade(engine_or_url: Engine | str, package: str, revision: str = "base") -> None:
    """`alembic downgrade <revision>` (tests, and a developer undoing a migration); "base" drops every table."""
    with _engine(engine_or_url) as engine, _migration_connection(engine, package) as connection:
        command.downgrade(alembic_config(package, connection), revision)


def current_revision(engine_or_url: Engine | str, package: str) -> str | None:
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        return _current(connection, package)


# --- databases made before migrations -------------------------------------------------------------


def _adopt_pre_alembic_schema(connection: Connection, package: str) -> str | None:
    """A database without a version row whose tables were made by `SQLModel.metadata.create_all`.

    Before migrations, every service created its tables at start-up with `create_all`, so a developer's
    `.run/<svc>.db` (or any database a service ran on) has tables and no version table. Running the
    first migration there would fail on "table exists"; dropping the tables would lose data. Instead,
    when the service's baseline tables are ALL present with exactly the baseline's columns (what
    `create_all` made from the models the baseline was written from), the baseline revision is stamped
    and the later migrations run as usual. Anything else (some tables missing, other columns) is refused
    with a MigrationError and nothing changed: guessing could stamp a schema the migrations don't fit.

    None of the baseline's tables present: a fresh database, nothing to adopt.
    """
    inspector = inspect(connection)
    if not set(inspector.get_table_names()) - {version_table(package)}:
        return None  # the usual case, and the fast one: an empty database
    expected = _baseline_shape(package)
    present = {name for name in expected if inspector.has_table(name)}
    if not present:
        return None
    problems = [f"table {name} is missing" for name in sorted(expected.keys() - present)]
    for name in sorted(present):
        columns = {c["name"] for c in inspector.get_columns(name)}
        if missing := sorted(expected[name] - columns):
            problems.append(f"{name} lacks column(s) {', '.join(missing)}")
        if extra := sorted(columns - expected[name]):
            problems.append(f"{name} has unexpected column(s) {', '.join(extra)}")
    baseline = str(_package(package).BASELINE)
    if problems:
        raise MigrationError(
            f"the {service_name(package)} database has tables but no migration version, and they are not "
            f"revision {baseline}'s schema ({'; '.join(problems)}); refusing to guess. A development "
            f"database can be deleted (it is recreated at start-up)."
        )
    log.warning(
        "%s: tables made before migrations found; they match revision %s, which is stamped",
        service_name(package),
        baseline,
    )
    connection.commit()
    command.stamp(alembic_config(package, connection), baseline)
    return baseline


def _baseline_shape(package: str) -> dict[str, set[str]]:
    """{table: column names} of the baseline revision: the migrations up to it, run on an in-memory SQLite."""
    scratch = create_engine("sqlite://")
    try:
        with _quiet_alembic(), scratch.connect() as connection:
            command.upgrade(alembic_config(package, connection), _package(package).BASELINE)
            inspector = inspect(connection)
            return {
                name: {c["name"] for c in inspector.get_columns(name)}
                for name in inspector.get_table_names()
                if name != version_table(package)
            }
    finally:
        scratch.dispose()


# --- python -m <svc>.migrate ----------------------------------------------------------------------


def _with_connect_timeout(url: str, seconds: int = 10) -> str:
    # libpq waits for a TCP connect as long as the OS does (minutes); an init container should fail fast
    # and let Kubernetes retry it.
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(seconds)}).render_as_string(hide_password=False)


def database_url_setting(settings_cls: type[BaseSettings]) -> str:
    """Only the `database_url` of a service's Settings, read the same way (its env prefix, its default), so
    the init container needs none of the other settings (secrets included)."""

    class DatabaseSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=settings_cls.model_config["env_prefix"], extra="ignore")
        database_url: str = settings_cls.model_fields["database_url"].default

    return DatabaseSettings().database_url


def migrate_main(package: str, settings_cls: type[BaseSettings]) -> int:
    """The body of every `python -m <svc>.migrate`: the service's database URL, then `migrate_command`."""
    return migrate_command(package, database_url_setting(settings_cls))


def migrate_command(package: str, database_url: str) -> int:
    """`python -m <svc>.migrate`: upgrade to head and print what was done.

    Exit 0 when the schema is at head; 2, with one line on stderr and no traceback, when the database is
    unreachable or its schema is refused (Kubernetes restarts the init container). A failing migration
    is a bug and keeps its traceback (exit 1).
    """
    # Alembic's own lines ("Running upgrade 0001 -> 0002") on stderr; the summary is printed on stdout.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.INFO)
    service = service_name(package)
    try:
        shown = make_url(database_url).render_as_string(hide_password=True)
        engine = make_engine(_with_connect_timeout(database_url))
    except Exception as e:  # a malformed URL, an unknown driver (the URL is not shown: it may hold a password)
        print(f"{service}.migrate: bad database URL: {_one_line(e)}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        try:
            with engine.connect():
                pass
        except (DBAPIError, OSError) as e:
            cause = e.orig if isinstance(e, DBAPIError) and e.orig is not None else e
            print(f"{service}.migrate: cannot reach the database at {shown}: {_one_line(cause)}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        try:
            result = upgrade_to_head(engine, package)
        except MigrationError as e:
            print(f"{service}.migrate: {_one_line(e)}", file=sys.stderr)
            return EXIT_CANNOT_RUN
    finally:
        engine.dispose()
    print(result.describe())
    return 0


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__

"""Schema migrations: each service's Alembic revisions against its SQLModel models, on SQLite and PostgreSQL.

The drift check (`test_*_matches_the_models`) is Alembic's autogenerate comparison between a database
upgraded to head and the service's models: it fails when someone changes a model without a migration.
The PostgreSQL tests are `e2e` (a real server, found or started by scripts/with-postgres); they never skip.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel.main import default_registry

from devstack.registry import load_services
from servicekit import make_engine
from servicekit.migrations import (
    MigrationError,
    _baseline_shape,
    current_revision,
    downgrade,
    head_revision,
    lock_key,
    schema_drift,
    service_metadata,
    upgrade_to_head,
    version_table,
)
from tests.e2e.infra.databases import postgres_databases

SERVICES = [
    name for name, service in load_services(Path(__file__).parents[1] / "services.yaml").items() if service.database
]
#: Workspace packages that could declare tables; only SERVICES may (the gateway has no database).
WORKSPACE = [*SERVICES, "gateway", "servicekit", "authz"]
#: A command that does not answer: nothing listens on port 1.
UNREACHABLE = "postgresql://x@127.0.0.1:1/x"


def package(service: str) -> str:
    return f"{service}.migrations"


def tables_declared_in_models(service: str) -> set[str]:
    """The service's table classes, found by looking at its models module (not by servicekit's helper)."""
    models = importlib.import_module(f"{service}.models")
    return {
        obj.__table__.name
        for obj in vars(models).values()
        if isinstance(obj, type) and hasattr(obj, "__table__") and obj.__module__ == models.__name__
    }


def drift(engine: Engine, service: str) -> list:
    """Alembic's autogenerate comparison: what would change to make the database match the models.

    The metadata holds only this service's tables (SQLModel.metadata is global: this process imports every
    service). Nothing filters the database side, so a table a migration made that no model declares shows
    up too (as `remove_table`); Alembic leaves out only the version table it is told about.
    """
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": version_table(package(service)), "compare_type": True}
        )
        return compare_metadata(context, service_metadata(package(service)))


def shape(engine: Engine, tables: set[str]) -> dict:
    """Everything reflection tells about `tables`: columns (type, nullability, default), keys, indexes."""
    inspector = sa.inspect(engine)
    out = {}
    for name in sorted(tables):
        out[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in inspector.get_columns(name)
            ],
            "pk": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(name)
            ),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(name)),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]), str(f["options"]))
                for f in inspector.get_foreign_keys(name)
            ),
        }
    return out


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def version_rows(engine: Engine, service: str) -> list[str]:
    with engine.connect() as connection:
        table = sa.table(version_table(package(service)), sa.column("version_num"))
        return list(connection.scalars(sa.select(table.c.version_num)))


@pytest.fixture
def sqlite_engines(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    engines = {name: make_engine(f"sqlite:///{tmp_path / name}.db") for name in ("migrated", "created")}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def postgres_engines() -> Iterator[dict[str, Engine]]:
    with postgres_databases(["migrated", "created"]) as urls:
        engines = {name: make_engine(url) for name, url in urls.items()}
        yield engines
        for engine in engines.values():
            engine.dispose()


# --- which tables belong to whom ---------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_service_metadata_is_the_models_tables(service: str) -> None:
    declared = tables_declared_in_models(service)
    assert declared, f"{service}.models declares no table: the drift check would compare nothing"
    assert set(service_metadata(package(service)).tables) == declared


def test_every_table_belongs_to_exactly_one_migrated_service() -> None:
    # Import every module of every workspace package, so a table declared outside `models` is found too.
    for name in WORKSPACE:
        root = importlib.import_module(name)
        for module in pkgutil.walk_packages(root.__path__, name + "."):
            importlib.import_module(module.name)
    mapped = {
        m.local_table.name: m.class_.__module__
        for m in default_registry.mappers
        if m.class_.__module__.split(".")[0] in WORKSPACE
    }
    owners = {table: [s for s in SERVICES if table in service_metadata(package(s)).tables] for table in mapped}
    assert {table: len(found) for table, found in owners.items()} == dict.fromkeys(mapped, 1), (mapped, owners)


# --- SQLite ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_sqlite_upgrade_from_empty_matches_the_models(service: str, sqlite_engines: dict[str, Engine]) -> None:
    engine = sqlite_engines["migrated"]
    result = upgrade_to_head(engine, package(service))
    assert (result.before, result.after, result.adopted) == (None, head_revision(package(service)), None)
    assert drift(engine, service) == []
    # Beyond what autogenerate compares: reflection sees the very schema that create_all made.
    service_metadata(package(service)).create_all(sqlite_engines["created"])
    tables = tables_declared_in_models(service)
    assert shape(engine, tables) == shape(sqlite_engines["created"], tables)
    assert table_names(engine) == tables | {version_table(package(service))}
    assert version_table(package(service)) == f"alembic_version_{service}"
    assert version_rows(engine, service) == [head_revision(package(service))]


@pytest.mark.parametrize("service", SERVICES)
def test_sqlite_upgrade_twice_is_a_no_op(service: str, sqlite_engines: dict[str, Engine]) -> None:
    engine = sqlite_engines["migrated"]
    upgrade_to_head(engine, package(service))
    before = shape(engine, table_names(engine))
    again = upgrade_to_head(engine, package(service))
    assert again.before == again.after == head_revision(package(service))
    assert "nothing to do" in again.describe()
    assert shape(engine, table_names(engine)) == before
    assert version_rows(engine, service) == [head_revision(package(service))]


@pytest.mark.parametrize("service", SERVICES)
def test_sqlite_downgrade_to_base_then_upgrade(service: str, sqlite_engines: dict[str, Engine]) -> None:
    engine = sqlite_engines["migrated"]
    upgrade_to_head(engine, package(service))
    downgrade(engine, package(service), "base")
    assert table_names(engine) == {version_table(package(service))}
    assert current_revision(engine, package(service)) is None
    upgrade_to_head(engine, package(service))
    assert drift(engine, service) == []


@pytest.mark.parametrize("service", SERVICES)
def test_drift_check_fails_on_a_model_change_without_migration(service: str, sqlite_engines: dict[str, Engine]) -> None:
    # The drift check is not vacuous: a column the models gained, an index the database lost, both show.
    engine = sqlite_engines["migrated"]
    upgrade_to_head(engine, package(service))
    changed = service_metadata(package(service))
    table = changed.tables[sorted(changed.tables)[0]]
    table.append_column(sa.Column("added_without_a_migration", sa.Integer, nullable=True))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table(package(service))})
        diff = compare_metadata(context, changed)
    assert [d[0] for d in diff] == ["add_column"]
    assert diff[0][3].name == "added_without_a_migration"

    index = sorted(i.name for t in service_metadata(package(service)).tables.values() for i in t.indexes)[0]
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP INDEX {index}")
    assert [(d[0], d[1].name) for d in drift(engine, service)] == [("add_index", index)]


def test_services_share_one_database(tmp_path: Path) -> None:
    # Each service has its own version table: all four migrate one database, and each sees only its tables.
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    try:
        for service in SERVICES:
            result = upgrade_to_head(engine, package(service))
            assert (result.before, result.adopted) == (None, None), service
        for service in SERVICES:
            assert current_revision(engine, package(service)) == head_revision(package(service))
            with engine.connect() as connection:
                assert schema_drift(connection, package(service)) == []
        expected = set().union(*(tables_declared_in_models(s) | {f"alembic_version_{s}"} for s in SERVICES))
        assert table_names(engine) == expected
    finally:
        engine.dispose()


# --- databases made by create_all before migrations -----------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_pre_migrations_database_is_adopted(service: str, sqlite_engines: dict[str, Engine]) -> None:
    engine = sqlite_engines["created"]
    metadata = service_metadata(package(service))
    # What every start did before migrations: create_all of the models as they were then (the baseline's
    # tables; tables added by later revisions did not exist yet).
    baseline_tables = [metadata.tables[name] for name in sorted(_baseline_shape(package(service)))]
    metadata.create_all(engine, tables=baseline_tables)
    table = baseline_tables[0]
    with engine.begin() as connection:
        connection.execute(sa.insert(table).values(**_a_row(table)))

    result = upgrade_to_head(engine, package(service))
    assert result.adopted == "0001"
    assert result.after == head_revision(package(service))
    assert "adopted" in result.describe()
    assert version_rows(engine, service) == [head_revision(package(service))]
    assert drift(engine, service) == []
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(table)) == 1  # the data is kept


@pytest.mark.parametrize("service", SERVICES)
def test_pre_migrations_database_that_does_not_match_is_refused(
    service: str, sqlite_engines: dict[str, Engine]
) -> None:
    engine = sqlite_engines["created"]
    metadata = service_metadata(package(service))
    baseline_tables = [metadata.tables[name] for name in sorted(_baseline_shape(package(service)))]
    metadata.create_all(engine, tables=baseline_tables)
    table, column = _plain_column(baseline_tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    before = shape(engine, table_names(engine))

    with pytest.raises(MigrationError, match=f"{table} lacks column\\(s\\) {column}"):
        upgrade_to_head(engine, package(service))
    assert shape(engine, table_names(engine)) == before  # nothing changed, no version table either


def _a_row(table: sa.Table) -> dict:
    samples = [
        (sa.String, "x"),
        (sa.Float, 1.0),
        (sa.Boolean, False),
        (sa.Uuid, uuid.uuid4()),
        (sa.DateTime, datetime.now(UTC)),
    ]
    assert not table.foreign_keys, "pick a table without foreign keys"
    row = {}
    for column in table.columns:
        type_ = column.type.impl if isinstance(column.type, sa.TypeDecorator) else column.type  # AutoString
        row[column.name] = next(value for kind, value in samples if isinstance(type_, kind))
    return row


def _plain_column(tables: list[sa.Table]) -> tuple[str, str]:
    """A column SQLite can drop: not in a key, an index or a constraint."""
    for table in tables:
        constrained = {c.name for i in table.indexes for c in i.columns}
        constrained |= {c.name for k in table.constraints for c in getattr(k, "columns", [])}
        for column in table.columns:
            if column.name not in constrained:
                return table.name, column.name
    raise AssertionError("no plain column")


# --- python -m <svc>.migrate ----------------------------------------------------------------------


def run_migrate(service: str, url: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, f"{service.upper()}_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", f"{service}.migrate"], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("service", SERVICES)
def test_migrate_command_when_the_database_is_unreachable(service: str) -> None:
    done = run_migrate(service, UNREACHABLE)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{service}.migrate: cannot reach the database at {UNREACHABLE}: ")
    assert done.stdout == ""


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("service", SERVICES)
def test_postgres_upgrade_matches_the_models(service: str, postgres_engines: dict[str, Engine]) -> None:
    engine = postgres_engines["migrated"]
    head = head_revision(package(service))
    first = upgrade_to_head(engine, package(service))
    assert (first.before, first.after) == (None, head)
    assert drift(engine, service) == []
    service_metadata(package(service)).create_all(postgres_engines["created"])
    tables = tables_declared_in_models(service)
    assert shape(engine, tables) == shape(postgres_engines["created"], tables)
    assert table_names(engine) == tables | {f"alembic_version_{service}"}

    again = upgrade_to_head(engine, package(service))
    assert again.before == again.after == head
    assert version_rows(engine, service) == [head]

    downgrade(engine, package(service), "base")
    assert table_names(engine) == {f"alembic_version_{service}"}
    upgrade_to_head(engine, package(service))
    assert drift(engine, service) == []
    assert version_rows(engine, service) == [head]


@pytest.mark.e2e
@pytest.mark.parametrize("service", SERVICES)
def test_migrate_command_on_postgres(service: str, postgres_engines: dict[str, Engine]) -> None:
    engine = postgres_engines["migrated"]
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    done = run_migrate(service, url)
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr
    head = head_revision(package(service))
    assert done.stdout.strip() == f"{service}: upgraded from an empty schema to {head} (head)"
    assert table_names(engine) == tables_declared_in_models(service) | {f"alembic_version_{service}"}
    assert version_rows(engine, service) == [head]
    assert drift(engine, service) == []

    again = run_migrate(service, url)
    assert again.returncode == 0, again
    assert again.stdout.strip() == f"{service}: already at revision {head} (head), nothing to do"


@pytest.mark.e2e
def test_concurrent_upgrades_take_turns_on_the_advisory_lock(postgres_engines: dict[str, Engine]) -> None:
    """Two init containers start at once: both succeed, one migrates, the other finds the schema at head.

    The test holds the service's advisory lock first, so both commands are seen waiting on it (proof that
    they take it) and are then let go at the same instant: the closest race there is.
    """
    service = "todos"
    engine = postgres_engines["migrated"]
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(package(service)),))
        env = {**os.environ, "TODOS_DATABASE_URL": url}
        commands = [
            subprocess.Popen(
                [sys.executable, "-m", "todos.migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 60
            waiting = 0
            while time.monotonic() < deadline:
                waiting = holder.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
                ).fetchone()[0]
                if waiting == 2 or any(c.poll() is not None for c in commands):
                    break
                time.sleep(0.1)
            assert waiting == 2, [c.poll() for c in commands]
            assert table_names(engine) == set()  # neither went ahead without the lock
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key(package(service)),))
        outputs = [c.communicate(timeout=120) for c in commands]
    assert [c.returncode for c in commands] == [0, 0], outputs
    head = head_revision(package(service))
    assert sorted(out.strip() for out, _ in outputs) == [
        f"todos: already at revision {head} (head), nothing to do",
        f"todos: upgraded from an empty schema to {head} (head)",
    ]
    assert version_rows(engine, service) == [head]
    assert drift(engine, service) == []

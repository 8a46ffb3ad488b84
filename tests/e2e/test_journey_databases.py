"""The user journey through the gateway on each database — the PostgreSQL one created empty for this run,
its schema made by each service's Alembic migrations at start-up (docs/migrations.md), nothing else."""

from __future__ import annotations

import pytest

from servicekit.migrations import current_revision, head_revision
from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.journey import journey_through_the_gateway

SERVICES_WITH_TABLES = ("identity", "todos", "reminders", "shares")


def test_journey_on_each_database(suite: SuiteClient) -> None:
    journey_through_the_gateway(suite)


@pytest.mark.parametrize("service", SERVICES_WITH_TABLES)
def test_each_database_is_at_its_services_head_revision(suite: SuiteClient, service: str) -> None:
    package = f"{service}.migrations"
    head = head_revision(package)
    assert head is not None
    assert current_revision(suite.database_urls[service], package) == head

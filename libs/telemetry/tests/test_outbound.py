"""`instrument_outbound` patches process-wide, so these run in a child process of their own."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import telemetry

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
telemetry.instrument_outbound(provider)
with sa.create_engine("sqlite://").connect() as connection:
    connection.execute(sa.text("select 1"))
print(json.dumps([[s.name, dict(s.attributes or {})] for s in exporter.get_finished_spans()]))
"""


def test_sql_statements_get_a_span_on_the_sqlalchemy_we_lock() -> None:
    # The instrumentor declares `sqlalchemy < 2.1`; without skip_dep_check it patches nothing on ours.
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        env={"OTEL_SDK_DISABLED": "false", "PATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    spans = json.loads(done.stdout.strip().splitlines()[-1])
    statements = [attributes.get("db.statement") for _, attributes in spans]
    assert "select 1" in statements, spans
    assert "DependencyConflict" not in done.stderr, done.stderr

"""devstack's OTEL environment: every process exports to the local receiver unless the developer said otherwise."""

from __future__ import annotations

from devstack.suite import SuiteConfig, telemetry_env


def test_every_process_exports_to_the_receiver_unless_the_developer_named_an_endpoint(tmp_path) -> None:
    config = SuiteConfig(run_dir=tmp_path)
    assert telemetry_env(config, {})["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in telemetry_env(config, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"})
    assert telemetry_env(config, {})["AUTHZ_TRACE_TOKEN_CONTENTS"] == "true"

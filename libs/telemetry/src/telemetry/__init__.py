"""OpenTelemetry for every todo-suite process: `configure(service)` once, `instrument(app)` per app.

The standard `OTEL_*` environment variables decide everything (endpoint, service name, sampler, off);
docs/observability.md lists what each process emits.
"""

from telemetry._logs import JsonFormatter
from telemetry._setup import configure, disabled, instrument, instrument_outbound

__all__ = ["JsonFormatter", "configure", "disabled", "instrument", "instrument_outbound"]

"""JSON log lines that carry the trace and span ids of the request they were written in."""

from __future__ import annotations

import json
import logging
import time

from opentelemetry import trace

#: uvicorn configures these before it builds the app (its own handlers, not propagating to the root).
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and `trace_id`/`span_id` (hex, as in the
    W3C `traceparent`) when a span is current, so a log line leads to its trace and back.
    Ref: https://opentelemetry.io/docs/specs/otel/compatibility/logging_trace_context/
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def install_json_logs(level: int = logging.INFO) -> None:
    """Every handler of the root logger and of uvicorn's loggers writes JSON (a root handler on stderr
    is added when there is none, so the services' own loggers are heard)."""
    formatter = JsonFormatter()
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
        root.setLevel(level)
    for logger in (root, *(logging.getLogger(name) for name in UVICORN_LOGGERS)):
        for handler in logger.handlers:
            handler.setFormatter(formatter)

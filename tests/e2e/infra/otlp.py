"""Where a traced suite's spans can be read back: the local receiver's query API (telemetry.receiver), or a
second, independent OTLP/HTTP receiver written here from the spec alone (protobuf decoded with
`opentelemetry-proto`), to show that the standard `OTEL_EXPORTER_OTLP_ENDPOINT` sends the same spans
anywhere. Both give a trace as a list of span dicts: service, name, kind, span and parent ids, attributes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any, Protocol

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.e2e.infra.local_http import QuietHandler, serving

KINDS = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client", Span.SPAN_KIND_INTERNAL: "internal"}


class TraceSource(Protocol):
    def spans(self, trace_id: str) -> list[dict[str, Any]]: ...

    def find(self, service: str, name: str) -> list[str]:
        """The ids of the traces in which `service` has a server span named `name`."""
        ...


class LocalReceiver:
    """The suite's own receiver, read through its query API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/traces/{trace_id}", timeout=5)
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return answer.json()["spans"]

    def find(self, service: str, name: str) -> list[str]:
        return [t["trace_id"] for t in self.recent(service=service, limit="500") if t["name"] == name]

    def recent(self, **query: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/traces", params=query, timeout=5)
        answer.raise_for_status()
        return answer.json()["traces"]


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


class IndependentReceiver:
    """An OTLP/HTTP trace endpoint (`POST /v1/traces`, protobuf) that keeps every span it is sent."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._spans: list[dict[str, Any]] = []

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def keep(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self._spans += [{
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "name": span.name,
                        "kind": KINDS.get(span.kind, "other"),
                        "service": resource.get("service.name"),
                        "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
                    } for span in scope_spans.spans]  # fmt: skip

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [span for span in self._spans if span["trace_id"] == trace_id]

    def find(self, service: str, name: str) -> list[str]:
        with self._lock:
            found = (s["trace_id"] for s in self._spans
                     if (s["service"], s["kind"], s["name"]) == (service, "server", name))  # fmt: skip
            return list(dict.fromkeys(found))


@contextmanager
def independent_receiver() -> Iterator[IndependentReceiver]:
    receiver: IndependentReceiver

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            ok = self.path == "/v1/traces" and self.headers.get("content-type") == "application/x-protobuf"
            if ok:
                receiver.keep(ExportTraceServiceRequest.FromString(body))
            answer = ExportTraceServiceResponse().SerializeToString() if ok else b""
            self.send_response(200 if ok else 415)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    with serving(Handler) as server:
        receiver = IndependentReceiver(server)
        yield receiver


class TracedSuite:
    """A suite with tracing on, and where its spans went (`spans`): the local receiver, or an independent
    one named by OTEL_EXPORTER_OTLP_ENDPOINT (then the local receiver runs but must get nothing)."""

    def __init__(self, suite: Any, spans: TraceSource, local: LocalReceiver) -> None:
        self.suite = suite
        self.spans = spans
        self.local = local

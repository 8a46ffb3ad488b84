"""The local trace receiver: OTLP/HTTP on 127.0.0.1:4318, the last few hundred traces kept in memory.

Every process of `make up` exports its spans here (OTEL_EXPORTER_OTLP_ENDPOINT, set by devstack unless the
developer set it), and the token journey view reads them back:

    POST /v1/traces          OTLP/HTTP, protobuf or JSON (the OTLP spec's two encodings), gzip or not
    GET  /traces             recent traces, newest first: ?limit=N, ?service=todos, ?subject=<auth.subject>
    GET  /traces/{trace_id}  one trace: every span with its service, parent, times and attributes
    GET  /healthz

`make up` starts it as `python -m telemetry.receiver` (devstack, beside the mail sink); in a cluster the
collector of k8s/components/otel fans out to it. Decoded with the official protobuf types
(`opentelemetry-proto`), never by hand. Nothing is written to disk; a restart forgets everything. Ref: https://opentelemetry.io/docs/specs/otlp/#otlphttp
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf import json_format  # type: ignore[import-untyped]  # protobuf ships no stubs
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_PORT = 4318
DEFAULT_MAX_TRACES = 500
#: A request larger than this is refused (413): the exporters send batches of at most 512 spans.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: OTLP/JSON writes these ids as hex, where protobuf's JSON mapping expects base64 (OTLP spec, "JSON
#: Protobuf Encoding"): they are converted before parsing.
_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def attribute_value(value: AnyValue) -> Any:
    """An OTLP `AnyValue` as plain JSON (arrays and key-value lists included)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [attribute_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: attribute_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in _HEX_ID_FIELDS and isinstance(v, str)
                    else _hex_ids_to_base64(v)) for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """An export request in either OTLP/HTTP encoding. Raises ValueError when it is neither."""
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except Exception as e:  # protobuf's DecodeError does not name a stable base class
            raise ValueError(f"not an OTLP protobuf export request: {e}") from None
    elif content_type == JSON:
        try:
            json_format.ParseDict(_hex_ids_to_base64(json.loads(body)), request)
        except (ValueError, json_format.ParseError) as e:
            raise ValueError(f"not an OTLP JSON export request: {e}") from None
    else:
        raise ValueError(f"unsupported content type {content_type!r}; send {PROTOBUF} or {JSON}")
    return request


@dataclass
class TraceStore:
    """The newest `max_traces` traces, each the list of its spans as plain dicts (oldest trace evicted)."""

    max_traces: int = DEFAULT_MAX_TRACES
    traces: OrderedDict[str, list[dict[str, Any]]] = field(default_factory=OrderedDict)

    def add(self, request: ExportTraceServiceRequest) -> int:
        count = 0
        for resource_spans in request.resource_spans:
            resource = {kv.key: attribute_value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self._add_span(resource, span)
                    count += 1
        return count

    def _add_span(self, resource: dict[str, Any], span: Any) -> None:
        trace_id = span.trace_id.hex()
        spans = self.traces.pop(trace_id, [])
        spans.append({
            "trace_id": trace_id,
            "span_id": span.span_id.hex(),
            "parent_span_id": span.parent_span_id.hex() or None,
            "name": span.name,
            "kind": _SPAN_KINDS.get(span.kind, str(span.kind)),
            "service": resource.get("service.name"),
            "start_unix_nano": span.start_time_unix_nano,
            "end_unix_nano": span.end_time_unix_nano,
            "status": {"code": _STATUS.get(span.status.code, str(span.status.code)), "message": span.status.message},
            "attributes": {kv.key: attribute_value(kv.value) for kv in span.attributes},
        })  # fmt: skip
        self.traces[trace_id] = spans  # now the newest
        while len(self.traces) > self.max_traces:
            self.traces.popitem(last=False)

    def summaries(self, *, limit: int, service: str | None, subject: str | None) -> list[dict[str, Any]]:
        found = []
        for trace_id, spans in reversed(self.traces.items()):
            if service is not None and all(s["service"] != service for s in spans):
                continue
            if subject is not None and all(s["attributes"].get("auth.subject") != subject for s in spans):
                continue
            roots = [s for s in spans if s["parent_span_id"] is None] or spans
            root = min(roots, key=lambda s: s["start_unix_nano"])
            found.append({
                "trace_id": trace_id,
                "name": root["name"],
                "service": root["service"],
                # Whose request it was, as the first hop concluded (web's journey view lists a user's own).
                "subject": root["attributes"].get("auth.subject"),
                "start_unix_nano": min(s["start_unix_nano"] for s in spans),
                "span_count": len(spans),
                "services": sorted({s["service"] for s in spans if s["service"]}),
            })  # fmt: skip
            if len(found) >= limit:
                break
        return found

    def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        spans = self.traces.get(trace_id.lower())
        return sorted(spans, key=lambda s: s["start_unix_nano"]) if spans is not None else None


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response(
        {"title": detail, "status": status}, status=status, content_type="application/problem+json"
    )


def create_app(store: TraceStore | None = None) -> web.Application:
    store = store or TraceStore()
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def export(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return _problem(400, "the body is not valid gzip")
        try:
            decoded = decode(body, request.content_type)
        except ValueError as e:
            return _problem(415 if "content type" in str(e) else 400, str(e))
        store.add(decoded)
        # The answer in the request's encoding; an empty response means every span was accepted.
        if request.content_type == JSON:
            return web.json_response({})
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type=PROTOBUF)

    async def list_traces(request: web.Request) -> web.Response:
        try:
            limit = max(1, min(int(request.query.get("limit", "50")), store.max_traces))
        except ValueError:
            return _problem(422, "limit must be an integer")
        found = store.summaries(limit=limit, service=request.query.get("service"), subject=request.query.get("subject"))
        return web.json_response({"traces": found})

    async def one_trace(request: web.Request) -> web.Response:
        spans = store.trace(request.match_info["trace_id"])
        if spans is None:
            return _problem(404, "no such trace (or it has been evicted)")
        return web.json_response({"trace_id": request.match_info["trace_id"].lower(), "spans": spans})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "traces": len(store.traces)})

    app.router.add_post("/v1/traces", export)
    app.router.add_get("/traces", list_traces)
    app.router.add_get("/traces/{trace_id}", one_trace)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m telemetry.receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--max-traces", type=int, default=DEFAULT_MAX_TRACES)
    args = parser.parse_args(argv)
    web.run_app(create_app(TraceStore(args.max_traces)), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

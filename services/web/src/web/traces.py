"""A request's hops, from the trace receiver (`telemetry.receiver`): what the journey view and the attack panel
show. Reading is async httpx; turning spans into hops (JSON decoding, sorting) is CPU work for a worker thread.

The span attributes are the contract of docs/observability.md (`auth.*`); the decoded token header and claims
are there only where the development setting `AUTHZ_TRACE_TOKEN_CONTENTS` put them (the signature never is).
"""

from __future__ import annotations

import datetime
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

#: A W3C trace id: 32 lowercase hex digits (https://www.w3.org/TR/trace-context/#trace-id).
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
#: web's own pages about traces: viewing a journey is not a journey to list.
_VIEWS = ("GET /journey", "GET /attacks", "GET /static")
_GRANTS = {
    "urn:ietf:params:oauth:grant-type:token-exchange": "token exchange (RFC 8693)",
    "client_credentials": "client credentials",
    "authorization_code": "authorization code",
    "refresh_token": "refresh",
}
_CREDENTIALS = {
    "session_cookie": "a session cookie (the browser holds no token)",
    "jwt": "a JWT",
    "opaque": "an opaque token (no JWT: nothing to decode)",
    "signed_headers": "signed identity headers (no token)",
    "none": "no credential",
}


#: Every process exports its spans in batches of its own (every 500 ms in `make up`): a trace that ended less
#: than this ago may lack a hop still.
SETTLE_NS = 2_000_000_000


class TracesUnavailable(Exception):
    """The receiver did not answer (not running, or OTEL_EXPORTER_OTLP_ENDPOINT sends spans elsewhere)."""


@dataclass
class Summary:
    trace_id: str
    name: str
    started: str
    services: list[str]


@dataclass
class Hop:
    """One server span: a row of the waterfall."""

    service: str
    caller: str
    name: str
    what: str
    depth: int
    offset: int  # percent of the trace's duration before this hop started
    width: int  # percent of the trace's duration this hop took
    duration_ms: float
    received: str = ""
    header: str = ""
    claims: str = ""
    signed_headers: str = ""
    subject: str = ""
    client_id: str = ""
    actor: list[str] = field(default_factory=list)
    audience: list[str] = field(default_factory=list)
    decision: str = ""
    problem_type: str = ""
    problem_status: str = ""
    problem_detail: str = ""

    @property
    def refused(self) -> bool:
        return self.decision == "refused"


@dataclass
class Journey:
    trace_id: str
    name: str
    mode: str
    duration_ms: float
    hops: list[Hop]
    #: Ended moments ago: another process's batch of spans may still be on its way (the page reloads once).
    settling: bool = False

    @property
    def refusal(self) -> Hop | None:
        """The first hop that refused (web's own span is never the one: it only relays the answer)."""
        return next((hop for hop in self.hops if hop.refused), None)


async def recent(
    http: httpx.AsyncClient, base: str, subject: str, *, limit: int = 20, seconds: float = 3.0
) -> list[dict[str, Any]]:
    """The newest traces that started at web for this subject (summaries from the receiver)."""
    try:
        query: dict[str, str | int] = {"service": "web", "subject": subject, "limit": 200}
        answer = await http.get(f"{base}/traces", params=query, timeout=seconds)
        answer.raise_for_status()
        traces = answer.json()["traces"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise TracesUnavailable() from error
    return [t for t in traces if t.get("service") == "web" and t.get("subject") == subject][:limit]


def summaries(traces: list[dict[str, Any]]) -> list[Summary]:
    """Only the requests worth a journey: web's own trace-viewing pages are left out."""
    found = []
    for t in traces:
        if str(t.get("name", "")).startswith(_VIEWS):
            continue
        started = datetime.datetime.fromtimestamp(int(t["start_unix_nano"]) / 1e9, datetime.UTC)
        found.append(Summary(t["trace_id"], str(t["name"]), started.strftime("%H:%M:%S"), list(t["services"])))
    return found


async def spans_of(
    http: httpx.AsyncClient, base: str, trace_id: str, *, seconds: float = 3.0
) -> list[dict[str, Any]] | None:
    """A trace's spans, or None if the receiver has none with this id."""
    try:
        answer = await http.get(f"{base}/traces/{trace_id}", timeout=seconds)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        spans = answer.json()["spans"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise TracesUnavailable() from error
    return spans if isinstance(spans, list) else None


def owner(spans: list[dict[str, Any]]) -> str | None:
    """Whose request this was: the subject on web's server span (the first hop), if web took part."""
    for span in spans:
        if span.get("service") == "web" and span.get("kind") == "server":
            subject = span.get("attributes", {}).get("auth.subject")
            return subject if isinstance(subject, str) else None
    return None


def _pretty(text: Any) -> str:
    if not isinstance(text, str) or not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)
    except ValueError:
        return ""


def _what(span: dict[str, Any]) -> str:
    a = span["attributes"]
    if "oauth.introspection.active" in a:
        return "introspection (RFC 7662)"
    if "oauth.grant_type" in a:
        return _GRANTS.get(str(a["oauth.grant_type"]), str(a["oauth.grant_type"]))
    return str(span["name"])


def journey(trace_id: str, spans: list[dict[str, Any]], mode: str) -> Journey:
    """The server spans as hops, in start order, each with its caller and depth. Blocking: a worker thread."""
    by_id = {s["span_id"]: s for s in spans}
    server = sorted((s for s in spans if s.get("kind") == "server"), key=lambda s: int(s["start_unix_nano"]))
    t0 = min((int(s["start_unix_nano"]) for s in spans), default=0)
    t1 = max((int(s["end_unix_nano"]) for s in spans), default=0)
    total = max(t1 - t0, 1)
    server_ids = {s["span_id"] for s in server}
    hops = []
    for span in server:
        caller, depth, parent = "browser", 0, by_id.get(span.get("parent_span_id") or "")
        if parent is not None:
            caller = str(parent.get("service") or "?")
        while parent is not None:  # how many server hops lie above this one
            depth += parent["span_id"] in server_ids
            parent = by_id.get(parent.get("parent_span_id") or "")
        start, end = int(span["start_unix_nano"]), int(span["end_unix_nano"])
        offset = min(99, (start - t0) * 100 // total)
        a = span["attributes"]
        hops.append(Hop(
            service=str(span["service"]), caller=caller, name=str(span["name"]), what=_what(span), depth=depth,
            offset=offset, width=max(1, min(100 - offset, round((end - start) * 100 / total))),
            duration_ms=round((end - start) / 1e6, 1),
            received=_CREDENTIALS.get(str(a.get("auth.credential", "")), ""),
            header=_pretty(a.get("auth.token.header")), claims=_pretty(a.get("auth.token.claims")),
            signed_headers=_pretty(a.get("auth.signed_headers")),
            subject=str(a.get("auth.subject", "")), client_id=str(a.get("auth.client_id", "")),
            actor=[str(x) for x in a.get("auth.actor") or []], audience=[str(x) for x in a.get("auth.audience") or []],
            decision=str(a.get("auth.decision", "")), problem_type=str(a.get("auth.problem.type", "")),
            problem_status=str(a.get("auth.problem.status", "")), problem_detail=str(a.get("auth.problem.detail", "")),
        ))  # fmt: skip
    name = server[0]["name"] if server else ""
    # The boundary mode as the edge applied it (web's setting says the same unless the gateway differs).
    edge_mode = next((s["attributes"]["auth.mode"] for s in server if s["attributes"].get("auth.hop") == "edge"
                      and "auth.mode" in s["attributes"]), mode)  # fmt: skip
    settling = time.time_ns() - t1 < SETTLE_NS
    return Journey(trace_id, str(name), str(edge_mode), round(total / 1e6, 1), hops, settling)

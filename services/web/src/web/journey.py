"""The token journey view (`/journey`) and the attack panel (`/attacks`): a request's hops, read back from the
trace receiver (docs/web.md#the-token-journey-view).

Only the signed-in person's own requests: a trace is theirs when web's server span in it names their opaque
subject; any other trace id answers the same 404 as one that does not exist. Spans leave every process in
batches (half a second in `make up`), so a page about a request just made waits for them: it reloads itself
(`<meta http-equiv="refresh">`, no script) a few times, then says what it has.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response

from web import attacks, traces
from web.api import ApiError, SessionEnded
from web.deps import SettingsDep, SignedIn, api_for
from web.models import WebSession
from web.pages import csrf_ok, forbidden_form, message, render
from web.settings import Settings
from web.signin import clear_cookie, redirect
from web.telemetry import current_trace_id

router = APIRouter(tags=["journey"])

#: How many more times a page about a request just made reloads itself (1 s apart) while its spans arrive.
Wait = Annotated[int, Query(ge=0, le=10)]
NOT_YOURS = "No request of yours has this trace id: it may be someone else's, mistyped, or long evicted."
UNAVAILABLE = (
    "The trace receiver did not answer. `make up` runs one on 127.0.0.1:4318 (WEB_TRACES_URL); if "
    "OTEL_EXPORTER_OTLP_ENDPOINT sends the spans elsewhere, read them there."
)


async def _own_journey(request: Request, row: WebSession, settings: Settings, trace_id: str) -> traces.Journey | None:
    """The journey of `trace_id` if it is the signed-in person's (web's span in it names their subject)."""
    spans = await traces.spans_of(
        request.state.http, settings.traces_url, trace_id, seconds=settings.traces_timeout_seconds
    )
    if spans is None or row.subject is None or traces.owner(spans) != row.subject:
        return None
    return await anyio.to_thread.run_sync(traces.journey, trace_id, spans, settings.authz.mode.value)


def _unavailable(request: Request, row: WebSession) -> Response:
    return message(request, row, "No traces to read", UNAVAILABLE, status=503)


@router.get("/journey")
async def journey_latest(request: Request, row: SignedIn, settings: SettingsDep) -> Response:
    """The journey of the person's latest request, and a list of the recent ones to pick from."""
    try:
        found = await traces.recent(
            request.state.http, settings.traces_url, row.subject or "", limit=200,
            seconds=settings.traces_timeout_seconds,
        )  # fmt: skip
        recent = await anyio.to_thread.run_sync(traces.summaries, found)
        journey = await _own_journey(request, row, settings, recent[0].trace_id) if recent else None
    except traces.TracesUnavailable:
        return _unavailable(request, row)
    refresh = "/journey" if journey is not None and journey.settling else ""
    return render(request, row, "journey.html", journey=journey, recent=recent[:20], waiting=0, refresh=refresh)


@router.get("/journey/{trace_id}")
async def journey_of(request: Request, row: SignedIn, settings: SettingsDep, trace_id: str, wait: Wait = 0) -> Response:
    trace_id = trace_id.lower()
    if not traces.TRACE_ID.match(trace_id):
        return message(request, row, "Not a trace id", "A trace id is 32 hexadecimal digits.", status=404)
    try:
        journey = await _own_journey(request, row, settings, trace_id)
        found = await traces.recent(
            request.state.http, settings.traces_url, row.subject or "", limit=200,
            seconds=settings.traces_timeout_seconds,
        )  # fmt: skip
        recent = await anyio.to_thread.run_sync(traces.summaries, found)
    except traces.TracesUnavailable:
        return _unavailable(request, row)
    if journey is None and not wait:
        return message(request, row, "No such journey", NOT_YOURS, status=404)
    refresh = (
        f"/journey/{trace_id}?wait={wait - 1}" if journey is None and wait
        else f"/journey/{trace_id}" if journey is not None and journey.settling else ""
    )  # fmt: skip
    return render(request, row, "journey.html", journey=journey, recent=recent[:20], waiting=wait, refresh=refresh)


@router.get("/attacks")
async def attack_panel(
    request: Request, row: SignedIn, settings: SettingsDep, attack: str = "", trace: str = "", wait: Wait = 0
) -> Response:
    """The panel; with `attack` and `trace`, the result of one attack: which hop refused it, and why."""
    result: dict[str, Any] | None = None
    refresh = ""
    chosen = attacks.BY_ID.get(attack)
    if chosen is not None and traces.TRACE_ID.match(trace):
        try:
            journey = await _own_journey(request, row, settings, trace)
        except traces.TracesUnavailable:
            return _unavailable(request, row)
        # web's own span (which makes the trace this person's) ends last: the other hops are in by then.
        arrived = journey is not None and not (journey.settling and wait)
        if not arrived and wait:
            refresh = f"/attacks?attack={attack}&trace={trace}&wait={wait - 1}"
        result = {"attack": chosen, "journey": journey, "trace_id": trace, "arrived": arrived}
    return render(request, row, "attacks.html", attacks=attacks.ATTACKS, result=result, refresh=refresh,
                  mode=settings.authz.mode.value)  # fmt: skip


@router.post("/attacks/{attack_id}")
async def run_attack(request: Request, row: SignedIn, settings: SettingsDep, attack_id: str) -> Response:
    """Send one attack through the gateway as this person; then show its result (Post/Redirect/Get)."""
    if not await csrf_ok(request, row):
        return forbidden_form(request, row)
    chosen = attacks.BY_ID.get(attack_id)
    if chosen is None:
        return message(request, row, "No such attack", "Pick one of the attacks on the panel.", status=404)
    api = api_for(request, row)
    try:
        method, path, token, headers = chosen.build(await api.fresh_tokens())
        answer = await api.send_as_is(method, path, token, headers)
    except SessionEnded:
        response = redirect("/?ended=1")
        clear_cookie(response, settings)
        return response
    except ApiError as error:
        return message(request, row, "Attack not sent", error.message, status=error.status)
    trace_id = current_trace_id()
    if trace_id is None:  # tracing off: only what the gateway answered can be told
        text = f"The gateway answered {answer.status_code}. Turn tracing on to see which hop decided."
        return message(request, row, chosen.title, text, status=200)
    return redirect(f"/attacks?attack={attack_id}&trace={trace_id}&wait=8")

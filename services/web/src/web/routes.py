"""The pages: my todos (add, edit, complete, delete, share, revoke), shared with me, the audit (admin).

Every change is a POST form carrying the session's CSRF token, answered with a redirect (Post/Redirect/Get)
or, when the API refuses, with the page and a readable message. No handler touches a token: `Api` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from web.api import TODO_FORBIDDEN, Api, ApiError, SessionEnded
from web.deps import CurrentSession, SettingsDep, SignedIn, api_for
from web.models import WebSession
from web.pages import csrf_ok, forbidden_form, message, render
from web.signin import clear_cookie, redirect

router = APIRouter(tags=["pages"])


def _ended(request: Request, settings: Any) -> Response:
    response = redirect("/?ended=1")
    clear_cookie(response, settings)
    return response


@router.get("/")
async def home(request: Request, row: CurrentSession, settings: SettingsDep) -> Response:
    """Signed in: my todos and what I shared. Signed out: the sign-in page."""
    if row is None or not row.signed_in:
        note = (
            "You are signed out." if "signed_out" in request.query_params
            else "Your session has ended. Please sign in again." if "ended" in request.query_params else ""
        )  # fmt: skip
        return render(request, row, "signin.html", note=note)
    api = api_for(request, row)
    try:
        todos = await api.call("GET", "/todos?limit=100")
        sent = await api.call("GET", "/shares/sent?limit=100")
    except SessionEnded:
        return _ended(request, settings)
    except ApiError as error:
        return message(request, row, "Cannot show your todos", error.message, status=error.status)
    shares_by_todo: dict[str, list[dict[str, Any]]] = {}
    for share in sent["data"]:
        shares_by_todo.setdefault(share["todo_id"], []).append(share)
    return render(request, row, "todos.html", todos=todos["data"], shares=shares_by_todo)


async def _action(
    request: Request,
    row: WebSession,
    settings: Any,
    work: Callable[[Api, dict[str, str]], Awaitable[object]],
    *,
    after: str = "/",
    refused_title: str = "Not done",
    forbidden: str | None = None,
) -> Response:
    """A state-changing form: signed in, CSRF token checked, the API called, then back to `after`."""
    if not await csrf_ok(request, row):
        return forbidden_form(request, row)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        await work(api_for(request, row), form)
    except SessionEnded:
        return _ended(request, settings)
    except ApiError as error:
        text = forbidden if forbidden and error.status == 403 else error.message
        return message(request, row, refused_title, text, status=error.status)
    return redirect(after)


@router.post("/todos")
async def create_todo(request: Request, row: SignedIn, settings: SettingsDep) -> Response:
    async def work(api: Api, form: dict[str, str]) -> object:
        body = {"title": form.get("title", ""), "notes": form.get("notes", "")}
        return await api.call("POST", "/todos", json=body)

    return await _action(request, row, settings, work, refused_title="Todo not added")


@router.post("/todos/{todo_id}/complete")
async def complete_todo(request: Request, row: SignedIn, settings: SettingsDep, todo_id: uuid.UUID) -> Response:
    async def work(api: Api, form: dict[str, str]) -> object:
        done = form.get("done", "true") == "true"
        return await api.call("PATCH", f"/todos/{todo_id}", json={"done": done})

    return await _action(request, row, settings, work, forbidden=TODO_FORBIDDEN)


@router.post("/todos/{todo_id}/delete")
async def delete_todo(request: Request, row: SignedIn, settings: SettingsDep, todo_id: uuid.UUID) -> Response:
    async def work(api: Api, form: dict[str, str]) -> object:
        return await api.call("DELETE", f"/todos/{todo_id}")

    return await _action(request, row, settings, work, refused_title="Todo not deleted", forbidden=TODO_FORBIDDEN)


@router.post("/todos/{todo_id}/share")
async def share_todo(request: Request, row: SignedIn, settings: SettingsDep, todo_id: uuid.UUID) -> Response:
    async def work(api: Api, form: dict[str, str]) -> object:
        body = {"todo_id": str(todo_id), "username": form.get("username", ""), "note": form.get("note", "")}
        return await api.call("POST", "/shares", json=body)

    return await _action(
        request, row, settings, work, refused_title="Not shared",
        forbidden="Only the owner of a todo can share it.",
    )  # fmt: skip


@router.post("/shares/{share_id}/revoke")
async def revoke_share(request: Request, row: SignedIn, settings: SettingsDep, share_id: uuid.UUID) -> Response:
    async def work(api: Api, form: dict[str, str]) -> object:
        return await api.call("DELETE", f"/shares/{share_id}")

    return await _action(request, row, settings, work, refused_title="Share not revoked")


@router.get("/todos/{todo_id}/edit")
async def edit_todo_page(request: Request, row: SignedIn, settings: SettingsDep, todo_id: uuid.UUID) -> Response:
    try:
        todo = await api_for(request, row).call("GET", f"/todos/{todo_id}")
    except SessionEnded:
        return _ended(request, settings)
    except ApiError as error:
        return message(request, row, "Cannot open this todo", error.message, status=error.status)
    return render(request, row, "edit.html", todo=todo, error="")


@router.post("/todos/{todo_id}/edit")
async def edit_todo(request: Request, row: SignedIn, settings: SettingsDep, todo_id: uuid.UUID) -> Response:
    """Save the edit form; a refusal shows the form again with what was typed and why (403: not yours)."""
    if not await csrf_ok(request, row):
        return forbidden_form(request, row)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    body = {"title": form.get("title", ""), "notes": form.get("notes", ""), "done": form.get("done") == "on"}
    try:
        await api_for(request, row).call("PATCH", f"/todos/{todo_id}", json=body)
    except SessionEnded:
        return _ended(request, settings)
    except ApiError as error:
        text = TODO_FORBIDDEN if error.status == 403 else error.message
        return render(request, row, "edit.html", status=error.status, todo={"id": str(todo_id), **body}, error=text)
    return redirect("/")


@router.get("/shared")
async def shared_with_me(request: Request, row: SignedIn, settings: SettingsDep) -> Response:
    try:
        received = await api_for(request, row).call("GET", "/shares/received?limit=100")
    except SessionEnded:
        return _ended(request, settings)
    except ApiError as error:
        return message(request, row, "Cannot show what was shared with you", error.message, status=error.status)
    return render(request, row, "shared.html", received=received["data"])


@router.get("/audit")
async def audit(request: Request, row: SignedIn, settings: SettingsDep) -> Response:
    """The admin's view of service and delegated calls (todos' audit, through the gateway)."""
    try:
        entries = await api_for(request, row).call("GET", "/todos/audit?limit=100")
    except SessionEnded:
        return _ended(request, settings)
    except ApiError as error:
        text = "Only an administrator may read the audit." if error.status == 403 else error.message
        return message(request, row, "Audit", text, status=error.status)
    return render(request, row, "audit.html", entries=entries["data"])

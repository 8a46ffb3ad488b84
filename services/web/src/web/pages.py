"""Rendering: the Jinja2 templates (autoescaped), the CSRF check, and the pages every route shares."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from web.models import WebSession

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC_DIR = Path(__file__).parent / "static"


def compile_templates() -> None:
    """Compile every template now (Jinja2 keeps them): the first render of one costs about 10 ms of CPU, which
    must not happen on the event loop inside a request. Blocking: call it from a worker thread."""
    for name in TEMPLATES.env.list_templates():
        TEMPLATES.env.get_template(name)


def render(
    request: Request, row: WebSession | None, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    signed_in = row is not None and row.signed_in
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"session": row if signed_in else None, "csrf": row.csrf_token if row else "", **context},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def message(request: Request, row: WebSession | None, title: str, text: str, *, status: int) -> HTMLResponse:
    return render(request, row, "message.html", status=status, title=title, text=text)


async def csrf_ok(request: Request, row: WebSession) -> bool:
    """The synchronizer token (OWASP CSRF Prevention Cheat Sheet): the form must carry this session's token,
    which only a page of this site could have shown. SameSite=Lax on the cookie is the second layer."""
    form = await request.form()
    sent = form.get("csrf_token")
    return isinstance(sent, str) and secrets.compare_digest(sent.encode(), row.csrf_token.encode())


def forbidden_form(request: Request, row: WebSession | None) -> HTMLResponse:
    return message(
        request, row, "Form refused",
        "This form did not come from a page of this site (its security token is missing or wrong). "
        "Go back, reload the page and try again.",
        status=403,
    )  # fmt: skip

"""The few HTML pages identity shows a person: sign in, sign out, and an error it must not redirect.

Plain HTML forms, no JavaScript: they work with a keyboard, a screen reader and any browser. Every input
has a `<label>`, errors are announced (`role="alert"`) and tied to the fields (`aria-describedby`), focus is
always visible, and the colours pass WCAG 2.2 AA contrast (the pairs below, checked by a test). The style
sheet is inline and allowed by its hash in the Content-Security-Policy, so nothing else (no script, no
frame, no other origin) can run or load.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from html import escape

from fastapi.responses import HTMLResponse

#: The colours, as (foreground, background) pairs where they meet; tests/test_signin.py checks each pair's
#: WCAG 2.2 contrast: 4.5:1 for text (SC 1.4.3), 3:1 for the focus ring and field borders (SC 1.4.11).
TEXT = ("#1b1b1b", "#ffffff")
HINT = ("#4a4a4a", "#ffffff")
BUTTON = ("#ffffff", "#0b4f8a")
ERROR = ("#8a1010", "#fdecec")
FOCUS_RING = ("#b34700", "#ffffff")
FIELD_BORDER = ("#595959", "#ffffff")

_STYLE = f"""
body {{ font: 1.125rem/1.5 system-ui, sans-serif; color: {TEXT[0]}; background: {TEXT[1]}; margin: 0; }}
main {{ max-width: 26rem; margin: 3rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; }}
label {{ display: block; margin-top: 1rem; font-weight: 600; }}
input[type=text], input[type=password] {{ width: 100%; box-sizing: border-box; font: inherit; padding: .5rem;
  border: 2px solid {FIELD_BORDER[0]}; border-radius: 4px; color: {TEXT[0]}; background: {TEXT[1]}; }}
button {{ margin-top: 1.5rem; font: inherit; padding: .6rem 1.4rem; color: {BUTTON[0]}; background: {BUTTON[1]};
  border: 2px solid {BUTTON[1]}; border-radius: 4px; cursor: pointer; }}
a {{ color: {BUTTON[1]}; }}
:focus-visible {{ outline: 3px solid {FOCUS_RING[0]}; outline-offset: 2px; }}
.error {{ color: {ERROR[0]}; background: {ERROR[1]}; border-left: 4px solid {ERROR[0]}; padding: .5rem .75rem; }}
.hint {{ color: {HINT[0]}; }}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

#: No script, no frames (clickjacking), nothing from elsewhere; the one style sheet by hash.
#: `form-action` is left out on purpose: browsers apply it to the redirect after the form post, which
#: goes to the client's redirect URI.
SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(title: str, body: str, *, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} · todo-suite identity</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _hidden(fields: Mapping[str, str]) -> str:
    return "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields.items()
    )


def login_page(
    *,
    client_id: str,
    carried: Mapping[str, str],
    csrf: str,
    username: str = "",
    error: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The sign-in form. `carried` are the authorization request's parameters, posted back with it."""
    described = ' aria-describedby="login-error" aria-invalid="true"' if error else ""
    alert = f'<p id="login-error" class="error" role="alert">{escape(error)}</p>\n' if error else ""
    body = f"""<h1>Sign in</h1>
<p class="hint">to continue to <strong>{escape(client_id)}</strong></p>
{alert}<form method="post" action="/login">
{_hidden({**carried, "csrf_token": csrf})}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{escape(username)}" autocomplete="username"
  autocapitalize="none" spellcheck="false" required autofocus{described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required{described}>
<button type="submit">Sign in</button>
</form>"""
    return _page("Sign in", body, status=status, headers=headers)


def logout_page(*, carried: Mapping[str, str], csrf: str) -> HTMLResponse:
    """Asked when a logout request cannot show it comes from the user's client (no valid id_token_hint):
    OIDC RP-Initiated Logout 1.0 section 2 requires the question, so no other site can sign the user out."""
    body = f"""<h1>Sign out</h1>
<p>Do you want to sign out of todo-suite identity? Applications that use it will ask you to sign in again.</p>
<form method="post" action="/logout">
{_hidden({**carried, "csrf_token": csrf})}
<button type="submit">Sign out</button>
</form>"""
    return _page("Sign out", body)


def message_page(
    title: str, message: str, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """A page that only says something: signed out, or an error identity must not send to a redirect URI."""
    role = ' role="alert"' if status >= 400 else ""
    return _page(title, f"<h1>{escape(title)}</h1>\n<p{role}>{escape(message)}</p>", status=status, headers=headers)

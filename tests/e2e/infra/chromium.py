"""Debian's Chromium driven by Playwright (never `playwright install`: ../shared/TOOLING.md), and a watch over
every response the browser receives, for the tokens that must never be among them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Error, Page, Response, sync_playwright
from sqlalchemy import text

from servicekit import make_engine

#: The flags TOOLING.md found to work on these machines (root, no GPU, no network beyond loopback).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
#: Anything shaped like a JWS compact serialisation (access tokens in passthrough, every ID token).
JWT_SHAPE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Received:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class ResponseWatch:
    """Every response a browser context received: URL, status, all headers, the body."""

    received: list[Received] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.on("response", self._record)

    def _record(self, response: Response) -> None:
        try:
            body = response.body()
        except Error:  # a redirect has no body to read
            body = b""
        self.received.append(Received(response.url, response.status, response.all_headers(), body))

    def leaks(self, secrets: set[str]) -> list[str]:
        """Where a response holds one of `secrets` or anything shaped like a JWT: `url (where)`."""
        found = []
        for r in self.received:
            places = {f"header {k}": v.encode() for k, v in r.headers.items()} | {"body": r.body}
            for where, data in places.items():
                if JWT_SHAPE.search(data) or any(s.encode() in data for s in secrets):
                    found.append(f"{r.url} ({where})")
        return found


def tokens_in_store(database_url: str) -> set[str]:
    """Every token the web UI's session store holds now (access, refresh, ID): what the browser must never see."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT access_token, refresh_token, id_token FROM web_sessions")).all()
    finally:
        engine.dispose()
    return {token for row in rows for token in row if token}


def web_storage(page: Page) -> dict[str, str]:
    """localStorage and sessionStorage of the page's origin, as one dict (both must stay empty of tokens)."""
    entries: dict[str, str] = page.evaluate(
        "() => Object.fromEntries([...Object.entries(localStorage), ...Object.entries(sessionStorage)])"
    )
    return entries

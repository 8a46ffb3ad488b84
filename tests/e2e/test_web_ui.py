"""The web UI in a real browser (Debian's Chromium, Playwright), against the real suite, in `passthrough` and
in `phantom` (the edge token opaque, the session store on PostgreSQL): one suite per mode, one browser for all.

alice signs in through identity's login page, adds a todo and shares it with bob, signs out; bob signs in,
sees it, and is told in words that he may see it but not change it. Throughout, no response the browser
receives — body or header, identity's pages included — holds an access, refresh or ID token, and web
storage stays empty. Screenshots of the main pages go to a temporary folder, or to docs/screenshots/ with
`make screenshots` (SCREENSHOTS_DIR), which the README shows.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.infra.browser import Browser as LoginAgent
from tests.e2e.infra.chromium import ResponseWatch, chromium, tokens_in_store, web_storage
from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.forgery import claims_of

FORBIDDEN_TEXT = "You may see this todo but not change it"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Person:
    """One person at their own browser profile (cookies of their own), watched for tokens."""

    def __init__(self, browser: Browser, suite: SuiteClient) -> None:
        self.suite = suite
        self.context: BrowserContext = browser.new_context(viewport={"width": 1100, "height": 760})
        self.context.set_default_timeout(15_000)
        self.watch = ResponseWatch()
        self.watch.attach(self.context)
        self.page: Page = self.context.new_page()
        self.tokens: set[str] = set()

    def close(self) -> None:
        self.context.close()

    @property
    def store(self) -> str:
        return self.suite.processes.config.database_url("web")

    def sign_in(self, username: str) -> None:
        page = self.page
        page.goto(self.suite.web_url + "/")
        page.get_by_role("link", name="Sign in with identity").click()
        # identity's own login page: the web UI never sees the password.
        expect(page).to_have_url(re.compile("^" + re.escape(self.suite.identity_url) + "/authorize"))
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(username)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
        self.tokens |= tokens_in_store(self.store)

    def sign_out(self) -> None:
        self.tokens |= tokens_in_store(self.store)
        self.page.get_by_role("button", name="Sign out").click()
        expect(self.page.get_by_role("status")).to_have_text("You are signed out.")

    def assert_no_token_reached_the_browser(self) -> None:
        assert self.tokens, "the session store held no token: nothing was checked"
        assert self.watch.received
        assert self.watch.leaks(self.tokens) == []
        assert web_storage(self.page) == {}


@pytest.fixture
def people(browser: Browser, web_suite: SuiteClient) -> Iterator[list[Person]]:
    made: list[Person] = []
    yield made
    for person in made:
        person.close()


def shot(page: Page, folder: Path, suite: SuiteClient, name: str, *, full_page: bool = False) -> None:
    if suite.mode == "passthrough":  # one set is enough: the pages look the same in every mode
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def test_alice_shares_with_bob_who_may_see_it_but_not_change_it(
    browser: Browser, web_suite: SuiteClient, people: list[Person], screenshots: Path
) -> None:
    title = f"Bring the projector {uuid.uuid4().hex[:6]}"
    alice = Person(browser, web_suite)
    people.append(alice)
    alice.page.goto(web_suite.web_url + "/")
    shot(alice.page, screenshots, web_suite, "1-sign-in")
    alice.page.get_by_role("link", name="Sign in with identity").click()
    shot(alice.page, screenshots, web_suite, "2-identity-login")
    alice.page.get_by_label("Username").fill("alice")
    alice.page.get_by_label("Password").fill("alice")
    alice.page.get_by_role("button", name="Sign in").click()
    expect(alice.page.get_by_text("Signed in as alice")).to_be_visible()
    alice.tokens |= tokens_in_store(alice.store)

    alice.page.get_by_label("Title").fill(title)
    alice.page.get_by_role("button", name="Add todo").click()
    todo = alice.page.get_by_role("listitem").filter(has=alice.page.get_by_role("heading", name=title))
    expect(todo).to_be_visible()
    todo.get_by_label("Share with (username)").fill("bob")
    todo.get_by_label("Note").fill("can you bring it?")
    todo.get_by_role("button", name=f"Share “{title}”").click()
    expect(todo.get_by_text("Shared with bob")).to_be_visible()
    shot(alice.page, screenshots, web_suite, "3-my-todos")
    alice.sign_out()
    alice.assert_no_token_reached_the_browser()

    bob = Person(browser, web_suite)
    people.append(bob)
    # identity's session ended with alice's sign-out; bob, in his own browser, types his password.
    bob.sign_in("bob")
    bob.page.get_by_role("link", name="Shared with me").click()
    shared = bob.page.get_by_role("listitem").filter(has=bob.page.get_by_role("heading", name=title))
    expect(shared).to_be_visible()
    expect(shared.get_by_text("can you bring it?")).to_be_visible()
    shot(bob.page, screenshots, web_suite, "4-shared-with-me")
    shared.get_by_role("link", name=f"Open “{title}”").click()
    bob.page.get_by_label("Title").fill("bob was here")
    with bob.page.expect_response(lambda r: r.request.method == "POST") as answer:
        bob.page.get_by_role("button", name="Save").click()
    assert answer.value.status == 403
    expect(bob.page.get_by_role("alert")).to_contain_text(FORBIDDEN_TEXT)
    shot(bob.page, screenshots, web_suite, "5-may-see-not-change")
    # The todo is unchanged: alice's title, as bob still sees it.
    bob.page.get_by_role("link", name="Shared with me").click()
    expect(bob.page.get_by_role("heading", name=title)).to_be_visible()
    bob.sign_out()
    bob.assert_no_token_reached_the_browser()


def test_carol_reads_the_audit_and_bob_is_told_he_may_not(
    browser: Browser, web_suite: SuiteClient, people: list[Person], screenshots: Path
) -> None:
    # A share of alice's first (through the API, as the CLI makes one), so the audit holds a delegated grant
    # whichever tests ran before this one.
    alice = web_suite.password_token("alice")
    todo = web_suite.gateway("POST", "/todos", token=alice, json={"title": f"For the audit {uuid.uuid4().hex[:6]}"})
    assert todo.status_code == 201, todo.text
    shared = web_suite.gateway("POST", "/shares", token=alice,
                               json={"todo_id": todo.json()["id"], "username": "bob", "note": "audit"})  # fmt: skip
    assert shared.status_code == 201, shared.text

    carol = Person(browser, web_suite)
    people.append(carol)
    carol.sign_in("carol")
    carol.page.get_by_role("link", name="Audit").click()
    expect(carol.page.get_by_role("heading", name="Audit")).to_be_visible()
    # shares acted for alice (token exchange) when she shared: todos audited the delegated grant.
    expect(carol.page.get_by_role("cell", name="grant").first).to_be_visible()
    shot(carol.page, screenshots, web_suite, "6-audit")
    carol.sign_out()
    carol.assert_no_token_reached_the_browser()

    bob = Person(browser, web_suite)
    people.append(bob)
    bob.sign_in("bob")
    expect(bob.page.get_by_role("link", name="Audit")).to_have_count(0)
    answer = bob.page.goto(web_suite.web_url + "/audit")
    assert answer is not None
    assert answer.status == 403
    expect(bob.page.get_by_role("alert")).to_have_text("Only an administrator may read the audit.")


def test_the_session_cookie_is_httponly_lax_and_the_only_thing_the_browser_holds(
    browser: Browser, web_suite: SuiteClient, people: list[Person]
) -> None:
    alice = Person(browser, web_suite)
    people.append(alice)
    alice.sign_in("alice")
    ours = [c for c in alice.context.cookies(web_suite.web_url) if c["name"].endswith("web_session")]
    assert len(ours) == 1
    (cookie,) = ours
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    # Plain-HTTP development: no Secure (the browser would drop it), so no __Host- prefix (docs/web.md).
    assert cookie["secure"] is False
    assert cookie["name"] == "web_session"
    assert cookie["value"] not in alice.tokens
    # Script cannot read it.
    assert "web_session" not in alice.page.evaluate("() => document.cookie")
    headers = alice.watch.received[-1].headers
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no script at all
    alice.assert_no_token_reached_the_browser()


def test_a_form_without_its_csrf_token_is_refused(
    browser: Browser, web_suite: SuiteClient, people: list[Person]
) -> None:
    alice = Person(browser, web_suite)
    people.append(alice)
    alice.sign_in("alice")
    title = f"forged {uuid.uuid4().hex[:6]}"
    # The browser's own cookie goes with these requests (context.request shares the cookie jar): what a
    # forged cross-site form would carry, with no token or a guessed one.
    for fields in ({"title": title}, {"title": title, "csrf_token": "guessed"}):
        answer = alice.context.request.post(web_suite.web_url + "/todos", form=fields, max_redirects=0)
        assert answer.status == 403, answer.text()
        assert "security token" in answer.text()
    answer = alice.context.request.post(web_suite.web_url + "/auth/logout", form={}, max_redirects=0)
    assert answer.status == 403  # nor can another site sign the user out
    alice.page.goto(web_suite.web_url + "/")
    expect(alice.page.get_by_text("Signed in as alice")).to_be_visible()
    expect(alice.page.get_by_role("heading", name=title)).to_have_count(0)


SHARE_PAGE = "POST /todos/{todo_id}/share"


def _share_journeys(person: Person) -> set[str]:
    """The links to the journeys of the person's shares that the journey view lists now."""
    person.page.goto(person.suite.web_url + "/journey")
    links = person.page.get_by_role("link", name=SHARE_PAGE, exact=True).all()
    return {str(link.get_attribute("href")) for link in links}


def test_the_journey_of_a_share_shows_each_hop_and_act_naming_shares_on_todos(
    browser: Browser, web_suite: SuiteClient, people: list[Person], screenshots: Path
) -> None:
    """The token journey view (docs/web.md): the share's hops from the traces, in this suite's mode."""
    title = f"Journey {uuid.uuid4().hex[:6]}"
    alice = Person(browser, web_suite)
    people.append(alice)
    alice.sign_in("alice")
    before = _share_journeys(alice)
    alice.page.get_by_role("link", name="My todos").click()
    alice.page.get_by_label("Title").fill(title)
    alice.page.get_by_role("button", name="Add todo").click()
    todo = alice.page.get_by_role("listitem").filter(has=alice.page.get_by_role("heading", name=title))
    todo.get_by_label("Share with (username)").fill("bob")
    todo.get_by_role("button", name=f"Share “{title}”").click()
    expect(todo.get_by_text("Shared with bob")).to_be_visible()

    deadline = time.monotonic() + 15  # spans leave every process in batches (500 ms here)
    while not (new := _share_journeys(alice) - before):
        assert time.monotonic() < deadline, "the share never showed in the journey view"
        time.sleep(0.5)
    (href,) = new
    alice.page.get_by_role("link", name=SHARE_PAGE, exact=True).and_(alice.page.locator(f'[href="{href}"]')).click()

    page = alice.page
    expect(page.locator(".lead .mode")).to_have_text(web_suite.mode)
    hop = page.locator("li.hop")
    # A hop whose batch of spans is still on its way shows after the page's own reload (1 s, no script).
    for service in ("web", "gateway", "shares", "identity", "todos"):
        expect(hop.and_(page.locator(f'[data-service="{service}"]')).first).to_be_visible(timeout=15_000)
    grant = page.locator('li.hop[data-service="todos"]').filter(has=page.locator("dd.actor"))
    expect(grant.locator("dd.actor")).to_have_text("shares")  # RFC 8693 `act`: shares acting for alice
    expect(page.locator('li.hop[data-service="identity"]').filter(has_text="token exchange")).to_have_count(1)
    expect(page.locator('li.hop[data-service="web"] dd.received')).to_contain_text("session cookie")
    edge = page.locator('li.hop[data-service="gateway"]').first
    if web_suite.mode == "phantom":  # the token web sent on is opaque: no JWT, nothing decoded at the edge
        expect(edge.locator("dd.received")).to_contain_text("opaque token")
        expect(edge.locator("details")).to_have_count(0)
    else:
        expect(edge.locator("dd.received")).to_have_text("a JWT")
        expect(edge.locator("summary")).to_have_text("Decoded token (signature elided)")
    shot(page, screenshots, web_suite, "journey-share", full_page=True)
    alice.assert_no_token_reached_the_browser()


def test_an_attack_from_the_panel_shows_the_hop_that_refused_it(
    browser: Browser, web_suite: SuiteClient, people: list[Person], screenshots: Path
) -> None:
    alice = Person(browser, web_suite)
    people.append(alice)
    alice.sign_in("alice")
    page = alice.page
    page.get_by_role("link", name="Try an attack").click()
    expect(page.locator(".lead .mode")).to_have_text(web_suite.mode)
    page.get_by_role("button", name="Send: Tampered claims").click()
    # The result page reloads itself until the attack's spans are in (no script).
    refused = page.locator(".refused-by")
    expect(refused).to_contain_text("Refused by gateway", timeout=20_000)
    expect(refused).to_contain_text("401")
    shot(page, screenshots, web_suite, "attacks")
    page.get_by_role("link", name="See the journey of this attack").click()
    expect(page.locator('li.hop.refused[data-service="gateway"]').first).to_be_visible(timeout=20_000)
    expect(page.locator('li.hop.refused[data-service="gateway"] dd code').last).to_contain_text(
        "urn:todo-suite:problem:"
    )
    alice.assert_no_token_reached_the_browser()


#: What the panel's attacks come to, in every mode: refused at the edge, or (the spoofed header) dropped there.
PANEL = {
    "spoof-headers-at-gateway": "No hop refused it",
    "wrong-audience": "Refused by <strong>gateway</strong>",
    "tampered-claims": "Refused by <strong>gateway</strong>",
    "delegated-token-at-gateway": "Refused by <strong>gateway</strong>",
}


def test_each_attack_of_the_panel_is_refused_at_the_edge_or_dropped(web_suite: SuiteClient) -> None:
    """The panel's four attacks, sent as alice over HTTP (the browser test above clicks one), all sent before any
    result is read (their spans arrive meanwhile): each result comes from the attack's trace; the spoofed
    headers are dropped at the gateway, so todos still sees alice."""
    agent = LoginAgent()
    pages: dict[str, str] = {}
    try:
        start = agent.http.get(f"{web_suite.web_url}/auth/login")
        agent.http.get(agent.sign_in(start.headers["location"], "alice"))
        panel = agent.http.get(f"{web_suite.web_url}/attacks")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', panel.text)[1]  # type: ignore[index]
        results = {}
        for attack in PANEL:
            sent = agent.http.post(f"{web_suite.web_url}/attacks/{attack}", data={"csrf_token": csrf})
            assert sent.status_code == 303, sent.text
            results[attack] = sent.headers["location"].replace("&wait=8", "&wait=1")
        deadline = time.monotonic() + 15
        for attack, result in results.items():
            while 'http-equiv="refresh"' in (page := agent.http.get(web_suite.web_url + result)).text:
                assert time.monotonic() < deadline, page.text
                time.sleep(0.5)
            assert page.status_code == 200
            pages[attack] = page.text
    finally:
        agent.close()
    alice = claims_of(web_suite.jwt(web_suite.password_token("alice")))["sub"]
    for attack, text in pages.items():
        assert PANEL[attack] in text, (attack, text)
        if attack == "spoof-headers-at-gateway":
            assert f"todos concluded the caller was <code>{alice}</code>" in text
        else:
            assert "urn:todo-suite:problem:" in text, attack

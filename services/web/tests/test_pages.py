"""The pages: CSRF on every form, API refusals as sentences, refresh with rotation, the headers."""

from __future__ import annotations

import pytest

from web.api import TODO_FORBIDDEN

from .conftest import csrf_of


class TestCsrf:
    @pytest.mark.parametrize("fields", [{}, {"csrf_token": "guessed"}])
    def test_a_form_without_its_token_is_refused_and_changes_nothing(self, client, signed_in, gateway, fields):
        signed_in(client, "alice")

        answer = client.post("/todos", data={"title": "forged", **fields})

        assert answer.status_code == 403
        assert "security token" in answer.text
        assert gateway.todos == {}

    def test_a_form_with_its_token_is_done(self, client, signed_in, gateway, identity):
        signed_in(client, "alice")
        csrf = csrf_of(client.get("/").text)

        answer = client.post("/todos", data={"title": "Buy milk", "csrf_token": csrf})

        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        assert [t["title"] for t in gateway.todos.values()] == ["Buy milk"]
        method, path, bearer = next(s for s in gateway.seen if s[0] == "POST")
        assert (method, path) == ("POST", "/todos")
        assert bearer in identity.access_tokens
        assert "Buy milk" in client.get("/").text

    def test_signed_out_forms_go_back_to_the_sign_in_page(self, client, gateway):
        answer = client.post("/todos", data={"title": "x"})

        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        assert gateway.seen == []


class TestRefusals:
    def test_a_403_on_a_todo_reads_as_may_see_but_not_change(self, client, signed_in, gateway):
        signed_in(client, "bob")
        csrf = csrf_of(client.get("/").text)
        forbidden = {"type": "urn:todo-suite:problem:forbidden", "status": 403, "detail": "not the owner"}
        gateway.force = (403, forbidden)

        answer = client.post(
            "/todos/6f1c0d7e-0000-4000-8000-000000000001/edit", data={"title": "bob was here", "csrf_token": csrf}
        )

        assert answer.status_code == 403
        assert TODO_FORBIDDEN in answer.text
        assert 'role="alert"' in answer.text
        assert 'value="bob was here"' in answer.text  # what was typed is kept
        assert "Traceback" not in answer.text

    @pytest.mark.parametrize(
        ("status", "words"),
        [(404, "it does not exist, or it is not shared with you"), (503, "unavailable"), (500, "went wrong")],
    )
    def test_other_problems_are_sentences(self, client, signed_in, gateway, status, words):
        signed_in(client, "alice")
        gateway.force = (status, {"status": status})

        answer = client.get("/todos/6f1c0d7e-0000-4000-8000-000000000001/edit")

        assert answer.status_code == status
        assert words in answer.text

    def test_the_audit_is_for_administrators(self, client, signed_in, gateway):
        signed_in(client, "bob")
        gateway.force = (403, {"status": 403})

        answer = client.get("/audit")

        assert answer.status_code == 403
        assert "Only an administrator may read the audit." in answer.text


class TestRefresh:
    def test_an_expiring_access_token_is_refreshed_and_the_refresh_token_rotated(
        self, client, signed_in, identity, gateway
    ):
        identity.expires_in = 1  # inside the refresh margin at once
        signed_in(client, "alice")
        first_refreshes = identity.refresh_requests

        assert client.get("/").status_code == 200

        assert identity.refresh_requests > first_refreshes
        used = gateway.seen[-1][2]
        assert used in identity.access_tokens  # the API saw a live token
        assert len(identity.refresh_tokens) == 1  # the spent one is gone, the rotated one is kept

    def test_a_401_is_answered_by_one_refresh(self, client, signed_in, identity, gateway):
        signed_in(client, "alice")
        identity.access_tokens.clear()  # revoked at identity: the gateway answers 401

        assert client.get("/").status_code == 200

        assert identity.refresh_requests == 1

    def test_a_refused_refresh_ends_the_session(self, client, signed_in, identity):
        signed_in(client, "alice")
        identity.access_tokens.clear()
        identity.refresh_tokens.clear()  # the family was ended at identity

        answer = client.get("/")

        assert answer.status_code == 303
        assert answer.headers["location"] == "/?ended=1"
        assert "Max-Age=0" in answer.headers["set-cookie"]
        assert "Sign in with identity" in client.get("/").text


def test_every_page_has_the_security_headers(client, signed_in):
    signed_in(client, "alice")

    for path in ("/", "/shared", "/static/style.css", "/auth/login"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_pages_link_nothing_from_another_origin(client, signed_in):
    signed_in(client, "carol")

    for path in ("/", "/shared", "/audit"):
        page = client.get(path).text
        assert "http://" not in page
        assert "https://" not in page
        assert "//" not in page.replace("<!--", "")
        assert "<script" not in page
        assert "style=" not in page

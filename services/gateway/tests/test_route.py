"""Routing by the canonical path: the one-match way for paths already canonical as sent, and the general way
(authz.canonical_path) for the rest, which must agree wherever the first one applies."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.boundary import (
    _PLAIN_API_PATH,
    REMEMBERED_ROUTE_LENGTH,
    BadRoute,
    _general_route,
    _remembered_route,
    route_of,
)
from gateway.forward import BodyTooLarge, passed_on, read_body

#: Characters that matter to the canonical form: pchar, `/`, `%` and hex digits, dots, and some a path may
#: not hold.
PATH_TEXT = st.text(alphabet="/api.todos%2E7Fa~_-!$&'()*+,;=:@ ?#[]\"<>\\", max_size=30)


def _scope(raw: str, query: bytes = b"") -> dict[str, object]:
    return {"raw_path": raw.encode("latin-1"), "path": raw, "query_string": query}


@given(tail=PATH_TEXT)
@example(tail="todos")
@example(tail="todos/")
@example(tail="todos/a/b/")
@example(tail="todos/.well-known")
@example(tail="todos/a..b")
def test_the_quick_route_agrees_with_the_general_one(tail: str) -> None:
    raw = "/api/" + tail
    plain = _PLAIN_API_PATH.fullmatch(raw)
    if plain is None:
        return  # the general way only: the other tests of the gateway hold it to the rules
    assert (plain.group(2), plain.group(1)) == _general_route(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/api/todos", ("todos", "/todos")),
        ("/api/todos/", ("todos", "/todos/")),
        ("/api/todos/7/grants", ("todos", "/todos/7/grants")),
        ("/api/todos//7", ("todos", "/todos/7")),  # general: slashes merged
        ("/api/todos/%7e", ("todos", "/todos/~")),  # general: an escaped unreserved character decoded
        ("/api/todos/.hidden", ("todos", "/todos/.hidden")),  # general: a dot-led segment that is no dot segment
    ],
)
def test_routes(raw: str, expected: tuple[str, str]) -> None:
    assert route_of(_scope(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "status"),
    [("/api/%74odos/1", 400), ("/api/todos/../x", 400), ("/api/todos/a b", 400), ("/api/", 404), ("/api//todos", 404),
     ("/%61pi/todos", 400)],
)  # fmt: skip
def test_paths_that_route_nowhere(raw: str, status: int) -> None:
    with pytest.raises(BadRoute) as bad:
        route_of(_scope(raw))
    assert bad.value.status == status


def test_the_query_is_kept_as_sent_once_checked() -> None:
    assert route_of(_scope("/api/todos", b"limit=5&x=%20")) == ("todos", "/todos?limit=5&x=%20")
    with pytest.raises(BadRoute):
        route_of(_scope("/api/todos", b"x=<script>"))


def test_a_route_is_remembered_a_refusal_and_a_long_path_are_not() -> None:
    _remembered_route.cache_clear()
    assert route_of(_scope("/api/todos/7")) == route_of(_scope("/api/todos/7")) == ("todos", "/todos/7")
    assert (_remembered_route.cache_info().hits, _remembered_route.cache_info().currsize) == (1, 1)

    for _ in range(2):
        with pytest.raises(BadRoute):
            route_of(_scope("/api/todos/../x"))
    long = "/api/todos/" + "a" * REMEMBERED_ROUTE_LENGTH
    assert route_of(_scope(long)) == ("todos", long[len("/api") :])
    assert _remembered_route.cache_info().currsize == 1


# --- the answer's headers and the request's body ---------------------------------------------------------


def test_a_service_s_connection_header_drops_what_it_lists_and_nothing_after_it() -> None:
    headers = [
        (b"content-type", b"application/json"), (b"Connection", b"x-private, keep-alive"), (b"x-private", b"1"),
        (b"x-public", b"2"), (b"server", b"uvicorn"), (b"x-request-id", b"theirs"),
    ]  # fmt: skip
    assert passed_on(headers) == [(b"content-type", b"application/json"), (b"x-public", b"2")]


def _receiver(*messages: dict[str, object]):
    queue = list(messages)

    async def receive() -> dict[str, object]:
        return queue.pop(0)

    return receive


async def test_a_body_in_one_message_and_in_several() -> None:
    one = _receiver({"type": "http.request", "body": b"abc", "more_body": False})
    assert await read_body(one, 3) == b"abc"
    several = _receiver({"type": "http.request", "body": b"ab", "more_body": True},
                        {"type": "http.request", "body": b"c", "more_body": True},
                        {"type": "http.request", "body": b"", "more_body": False})  # fmt: skip
    assert await read_body(several, 3) == b"abc"


@pytest.mark.parametrize("split", [False, True])
async def test_a_body_past_the_limit_is_refused(split: bool) -> None:
    if split:
        receive = _receiver({"type": "http.request", "body": b"ab", "more_body": True},
                            {"type": "http.request", "body": b"cd", "more_body": False})  # fmt: skip
    else:
        receive = _receiver({"type": "http.request", "body": b"abcd", "more_body": False})
    with pytest.raises(BodyTooLarge):
        await read_body(receive, 3)


async def test_a_client_that_goes_away_leaves_what_it_sent() -> None:
    receive = _receiver({"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"})
    assert await read_body(receive, 10) == b"ab"

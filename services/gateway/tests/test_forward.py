"""Forwarding: routing to the service's upstream, the answer coming back, failures, limits, the pool."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from gateway.forward import Forwarder, UpstreamFailed, connection_listed

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


# --- routing -------------------------------------------------------------------------------------------


async def test_path_query_method_and_body_reach_the_upstream(client, upstream, auth):
    response = await client.post("/api/todos/abc?x=1&y=two", headers=auth, json={"title": "buy milk"})

    assert response.status_code == 200, response.text
    [seen] = upstream.seen
    assert seen.method == "POST"
    assert seen.path == "/todos/abc"
    assert seen.query == "x=1&y=two"
    assert seen.body == b'{"title":"buy milk"}'
    assert seen.header("content-type") == "application/json"
    assert seen.header("content-length") == str(len(seen.body))


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_every_method_is_forwarded_as_is(client, upstream, auth, method):
    response = await client.request(method, "/api/todos/7", headers=auth)

    assert response.status_code == 200
    assert [(s.method, s.path) for s in upstream.seen] == [(method, "/todos/7")]


async def test_the_service_root_is_forwarded(client, upstream, auth):
    response = await client.get("/api/todos", headers=auth)

    assert response.status_code == 200
    assert [(s.path, s.query) for s in upstream.seen] == [("/todos", "")]


async def test_each_service_goes_to_its_own_prefix(client, upstream, auth):
    await client.get("/api/shares/mine", headers=auth)

    assert [s.path for s in upstream.seen] == ["/shares/mine"]


async def test_unknown_service_is_404_without_contacting_any_upstream(client, upstream, auth, problem):
    for path in ("/api/nope/x", "/api/nope", "/api/", "/api//todos"):
        response = await client.get(path, headers=auth)
        problem(response, 404, "not-found")

    assert upstream.seen == []


async def test_percent_encoded_path_is_forwarded_as_sent(client, upstream, auth):
    # `%3F` is a `?` that is part of the path segment, not the start of a query.
    response = await client.get("/api/todos/a%3Fadmin%3D1", headers=auth)

    assert response.status_code == 200
    [seen] = upstream.seen
    assert seen.query == ""
    assert seen.path == "/todos/a?admin=1"


async def test_percent_escapes_are_not_decoded_twice(client, upstream, auth):
    # The client means the literal text `%41`; the upstream must not receive `A`.
    await client.get("/api/todos/%2541", headers=auth)

    [seen] = upstream.seen
    assert seen.path == "/todos/%41"


async def test_dot_segments_cannot_leave_the_routed_service(client, upstream, make_token):
    # A token for todos only: whatever the gateway does with `..`, nothing outside /todos may be reached.
    todos_only = {"Authorization": f"Bearer {make_token(audience='todos')}"}

    await client.get("/api/todos/%2E%2E/shares/secret", headers=todos_only)

    assert all(s.path == "/todos" or s.path.startswith("/todos/") for s in upstream.seen), [
        s.path for s in upstream.seen
    ]


# --- the answer ----------------------------------------------------------------------------------------


async def test_status_body_and_headers_come_back(client, auth):
    response = await client.post("/api/todos?status=201", headers=auth, content=b"hello")

    assert response.status_code == 201
    assert response.json() == {"method": "POST", "path": "/todos", "query": "status=201", "body": "hello"}
    assert response.headers["x-upstream"] == "echo"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["content-length"]) == len(response.content)


async def test_a_large_answer_comes_back_whole(client, auth):
    response = await client.get("/api/todos/large", headers=auth)

    assert response.status_code == 200
    assert response.content == bytes(range(256)) * 800
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["content-type"] == "application/octet-stream"


async def test_upstream_500_passes_through(client, auth):
    response = await client.get("/api/todos/boom", headers=auth)

    assert response.status_code == 500
    assert response.json() == {"error": "the service broke"}
    assert response.headers["x-service"] == "echo"


async def test_hop_by_hop_response_headers_are_dropped(client, auth):
    response = await client.get("/api/todos/hop", headers=auth)

    assert response.status_code == 200
    assert response.json() == {"hop": True}
    assert response.headers["x-kept"] == "end-to-end"
    for name in ("connection", "keep-alive", "proxy-authenticate", "transfer-encoding"):
        assert name not in response.headers, name
    assert response.headers.get_list("content-length") == [str(len(response.content))]


async def test_response_headers_named_in_connection_are_dropped(client, auth):
    # RFC 9110 section 7.6.1: a proxy removes the fields the `Connection` header names, in responses too.
    response = await client.get("/api/todos/hop", headers=auth)

    assert response.status_code == 200
    assert "x-secret" not in response.headers


# --- X-Request-Id --------------------------------------------------------------------------------------


async def test_a_valid_request_id_is_kept_forwarded_and_returned(client, upstream, auth):
    response = await client.get("/api/todos/1", headers={**auth, "X-Request-Id": "req-1.A_b"})

    assert response.headers["x-request-id"] == "req-1.A_b"
    assert upstream.seen[0].all("x-request-id") == ["req-1.A_b"]


@pytest.mark.parametrize(
    "bad",
    ["has spaces", "x" * 200, "", "semi;colon", "ünïcode"],
    ids=["spaces", "200-chars", "empty", "semicolon", "non-ascii"],
)
async def test_an_invalid_request_id_is_replaced(client, upstream, auth, bad):
    response = await client.get("/api/todos/1", headers={**auth, "X-Request-Id": bad.encode("utf-8")})

    returned = response.headers["x-request-id"]
    assert HEX_ID.match(returned), returned
    assert upstream.seen[0].all("x-request-id") == [returned]


async def test_a_request_id_is_always_returned(client, upstream, auth):
    first = await client.get("/api/todos/1", headers=auth)
    second = await client.get("/api/todos/1", headers=auth)

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(HEX_ID.match(i) for i in ids)
    assert ids[0] != ids[1]
    assert [s.header("x-request-id") for s in upstream.seen] == ids


@pytest.mark.parametrize("path", ["/api/todos/boom", "/api/todos/slow", "/api/reminders/x", "/api/todos/drop"])
async def test_a_request_id_comes_back_on_failures_too(client, auth, path):
    response = await client.get(path, headers={**auth, "X-Request-Id": "trace-me"})

    assert response.status_code >= 500
    assert response.headers.get_list("x-request-id") == ["trace-me"]


async def test_exactly_one_request_id_comes_back_when_the_service_echoes_it(client, auth):
    # Services commonly echo X-Request-Id; the client must still get one value, not "id, id".
    response = await client.get("/api/todos/request-id", headers={**auth, "X-Request-Id": "trace-me"})

    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == ["trace-me"]


# --- failures ------------------------------------------------------------------------------------------


async def test_unreachable_upstream_is_502(client, auth, problem):
    body = problem(await client.get("/api/reminders/due", headers=auth), 502, "upstream-unavailable")

    assert "could not be reached" in body["detail"]


async def test_upstream_closing_without_an_answer_is_502(client, upstream, auth, problem):
    problem(await client.get("/api/todos/drop", headers=auth), 502, "upstream-unavailable")

    # aiohttp retries an idempotent request once on a dropped connection; either way it was this one.
    assert upstream.seen
    assert {s.path for s in upstream.seen} == {"/todos/drop"}


async def test_slow_upstream_is_504_after_the_timeout(client, upstream, auth, problem):
    started = time.monotonic()
    response = await client.get("/api/todos/slow", headers=auth)
    elapsed = time.monotonic() - started

    problem(response, 504, "upstream-timeout")
    assert 0.4 <= elapsed < 3, elapsed
    assert [s.path for s in upstream.seen] == ["/todos/slow"]


async def test_the_gateway_keeps_serving_after_a_timeout(client, auth):
    assert (await client.get("/api/todos/slow", headers=auth)).status_code == 504
    assert (await client.get("/api/todos/after", headers=auth)).status_code == 200


async def test_body_over_the_limit_with_content_length_is_413(client, upstream, auth, problem):
    body = problem(await client.post("/api/todos", headers=auth, content=b"x" * 1025), 413, "content-too-large")

    assert "1024" in body["detail"]
    assert upstream.seen == []


async def test_chunked_body_over_the_limit_is_413(client, upstream, auth, problem):
    async def chunks():
        for _ in range(10):
            yield b"y" * 200

    response = await client.post("/api/todos", headers=auth, content=chunks())

    problem(response, 413, "content-too-large")
    assert upstream.seen == []


async def test_body_at_the_limit_is_forwarded(client, upstream, auth):
    async def chunks():
        for _ in range(4):
            yield b"z" * 256

    response = await client.post("/api/todos", headers=auth, content=chunks())

    assert response.status_code == 200
    assert upstream.seen[0].body == b"z" * 1024
    assert upstream.seen[0].header("content-length") == "1024"
    assert upstream.seen[0].header("transfer-encoding") is None


# --- the pool ------------------------------------------------------------------------------------------


async def test_sequential_requests_reuse_connections(client, upstream, auth):
    for i in range(30):
        assert (await client.get(f"/api/todos/{i}", headers=auth)).status_code == 200

    assert len(upstream.seen) == 30
    assert len(upstream.peers) <= 2, upstream.peers


async def test_concurrent_requests_are_all_answered(client, upstream, auth):
    responses = await asyncio.gather(*(client.get(f"/api/todos/{i}", headers=auth) for i in range(20)))

    assert [r.json()["path"] for r in responses] == [f"/todos/{i}" for i in range(20)]
    assert sorted(s.path for s in upstream.seen) == sorted(f"/todos/{i}" for i in range(20))


def test_connection_listed():
    headers = [(b"connection", b"Keep-Alive, X-Foo"), (b"x-foo", b"1"), (b"connection", b" x-bar ")]
    assert connection_listed(headers) == {b"keep-alive", b"x-foo", b"x-bar"}


async def test_a_refusal_carries_a_request_id_too(client) -> None:
    refused = await client.get("/api/todos/x", headers={"X-Request-Id": "follow-me"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "follow-me"
    unknown = await client.get("/api/nope/x")
    assert unknown.status_code == 404
    assert len(unknown.headers["x-request-id"]) == 32


async def test_client_sent_forwarded_for_is_replaced(client, auth, upstream) -> None:
    claims = {"X-Forwarded-For": "10.9.8.7", "Forwarded": "for=10.9.8.7", "X-Real-IP": "10.9.8.7", "X_Real_IP": "x"}
    response = await client.get("/api/todos/x", headers={**auth, **claims})
    assert response.status_code == 200
    [seen] = upstream.seen
    assert seen.all("x-forwarded-for") == [seen.header("x-forwarded-for")]
    assert "10.9.8.7" not in (seen.header("x-forwarded-for") or "")
    # The client's other ways of naming its address go nowhere: the gateway vouches for one, X-Forwarded-For.
    assert [name for name, _ in seen.headers if name in ("forwarded", "x-real-ip", "x_real_ip")] == []


async def test_w3c_trace_context_is_passed_on(client, auth, upstream) -> None:
    trace = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "suite=1"}
    assert (await client.get("/api/todos/x", headers={**auth, **trace})).status_code == 200
    [seen] = upstream.seen
    assert (seen.header("traceparent"), seen.header("tracestate")) == (trace["traceparent"], "suite=1")


# --- over a Unix socket (AUTHZ_UNIX_SOCKETS: the local mesh's outbound sidecar) ------------------------------


async def test_a_host_mapped_to_a_unix_socket_is_forwarded_there_under_its_name(tmp_path):
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        seen.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    path = tmp_path / "gateway-to-todos.sock"
    server = await asyncio.start_unix_server(answer, path=str(path))
    forwarder = Forwarder(pool_size=2, timeout=5, connect_timeout=1, unix_sockets={"todos": path})
    await forwarder.start()
    try:
        async with server:
            response = await forwarder.forward("GET", "http://todos/todos/7?x=1", [], b"")
            # A host not in the map goes over TCP as before: here to a port where nothing listens.
            with pytest.raises(UpstreamFailed) as refused:
                await forwarder.forward("GET", "http://127.0.0.1:9/todos", [], b"")
    finally:
        await forwarder.close()
    assert (response.status, response.body) == (200, b"ok")
    [head] = seen
    assert head.startswith("GET /todos/7?x=1 HTTP/1.1\r\n")
    assert "\r\nHost: todos\r\n" in head
    assert refused.value.status == 502


# --- one form of the path, and the gateway's own headers ------------------------------------------------


async def test_a_percent_in_the_service_name_is_a_400(client, upstream, auth, problem):
    for path in ("/api/%74odos/whoami", "/api/todos%2Fx/y", "/%61pi/todos/whoami"):
        problem(await client.get(path, headers=auth), 400, "bad-path")

    assert upstream.seen == []


async def test_the_path_is_forwarded_in_its_canonical_form(client, upstream, auth):
    response = await client.get("/api/todos//a/%7e/%2f/%41%3f?q=%2a", headers=auth)

    assert response.status_code == 200
    assert upstream.seen[0].raw_path == "/todos/a/~/%2F/A%3F"
    assert upstream.seen[0].query == "q=%2a"


@pytest.mark.parametrize("path", ["/api/todos/%2e%2E/admin", "/api/todos/a%zz", "/api/todos/a%", "/api/todos/a\\b"])
async def test_a_path_without_a_canonical_form_is_a_400(client, upstream, auth, problem, path):
    problem(await client.get(path, headers=auth), 400, "bad-path")

    assert upstream.seen == []


@pytest.mark.parametrize("mode", ["reissue", "extract", "passthrough"])
async def test_connection_listed_names_never_drop_what_the_gateway_sets(client, upstream, auth, mode):
    listed = "authorization, x-user-id, x-gateway-signature, x-gateway-nonce, x-request-id, x-forwarded-for, x-drop"
    response = await client.get("/api/todos/1", headers={**auth, "Connection": listed, "X-Drop": "1", "X-Keep": "1"})

    assert response.status_code == 200
    [seen] = upstream.seen
    assert seen.header("x-drop") is None  # the client's own listed header is hop-by-hop: dropped
    assert seen.header("x-keep") == "1"
    assert seen.header("x-request-id")
    assert seen.header("x-forwarded-for")
    if mode == "extract":
        assert all(seen.header(h) for h in ("x-user-id", "x-gateway-signature", "x-gateway-nonce"))
    else:
        assert (seen.header("authorization") or "").startswith("Bearer ")

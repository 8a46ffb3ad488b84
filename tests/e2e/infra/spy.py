"""A spy upstream: a plain HTTP server the gateway can route to, which keeps what it was sent.

It stands for a compromised service. The attack matrix routes `/api/spy/…` to it (with the audience of
`todos`, so in `reissue` the gateway mints it a token good at todos) and then replays whatever credential
the gateway handed it — a token, or signed identity headers — at the gateway and at another service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from tests.e2e.infra.local_http import QuietHandler, serving

#: The request headers that carry a caller, in any mode.
CREDENTIAL_HEADERS = ("authorization", "x-user-id", "x-user-name", "x-roles", "x-scopes")


class Spy:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.received: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def credentials(self) -> dict[str, str]:
        """The caller-carrying headers of the last request received (signature headers included)."""
        last = self.received[-1]
        return {k: v for k, v in last.items() if k in CREDENTIAL_HEADERS or k.startswith("x-gateway-")}


@contextmanager
def spy_upstream() -> Iterator[Spy]:
    spy: Spy

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            spy.received.append({k.lower(): v for k, v in self.headers.items()})
            body = b"{}"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as server:
        spy = Spy(server)
        yield spy

"""`python -m devstack.uds_app APP SOCKET`: `uvicorn APP --factory` on a Unix socket only this user can use.

With the mesh, an app's socket is its sidecar's upstream and must be nobody else's: connect(2) on a Unix
socket needs write permission on it (unix(7)). uvicorn's own `--uds` chmods its socket to 0666 after
binding; here the socket is bound with mode 0600 from the start (the umask of this still single-threaded
process, for that one bind(2)), so at no moment could another user connect — and it sits in the mesh's
0700 sockets folder besides. uvicorn then serves on it, as `--fd` would.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import uvicorn

from meshgen.envoy import SOCKET_MODE


def bind_private_socket(path: Path) -> socket.socket:
    """A Unix stream socket bound at `path` (a stale socket there is replaced) with mode `SOCKET_MODE`."""
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o777 & ~SOCKET_MODE)
    try:
        sock.bind(str(path))
    finally:
        os.umask(previous)
    return sock


def main(argv: list[str] | None = None) -> None:
    app, path = argv if argv is not None else sys.argv[1:]
    sock = bind_private_socket(Path(path))
    # The access log as `uvicorn` reads it from UVICORN_ACCESS_LOG (off by default: devstack.suite).
    access_log = os.environ.get("UVICORN_ACCESS_LOG", "false").lower() in ("1", "true", "yes", "on")
    config = uvicorn.Config(
        app,
        factory=True,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=3,
        access_log=access_log,
        proxy_headers=False,  # as devstack.suite.uvicorn_cmd: no address taken from a client's header
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()

"""Reaching a host over a Unix socket instead of TCP: the local mesh's outbound sidecars listen on sockets.

`AUTHZ_UNIX_SOCKETS` maps a host name to a socket path, e.g. `{"todos": "/…/sockets/shares-to-todos.sock"}`:
every HTTP client of the process sends a request for `http://todos/…` to that socket, with `Host: todos`;
a host not in the map goes over TCP as usual. URLs keep naming the service (as a cluster DNS name
would), and the map plays the part of a pod's traffic capture. One map per process, used by every
client the process makes: the httpx clients through `unix_socket_mounts`, the gateway's aiohttp pool
through its own connector per socket (gateway/forward.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx


def unix_socket_mounts(sockets: Mapping[str, Path]) -> dict[str, httpx.AsyncBaseTransport]:
    """httpx `mounts` that send `http://<host>` (any port) to the host's socket.

    Ref: https://www.python-httpx.org/advanced/transports/#routing"""
    return {f"http://{host}": httpx.AsyncHTTPTransport(uds=str(path)) for host, path in sockets.items()}

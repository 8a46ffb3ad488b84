"""Loopback ports: is one free, and find free ones."""

from __future__ import annotations

import contextlib
import random
import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        # As servers do (uvicorn included): a port with only TIME_WAIT connections left is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel says are free now (held open together, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def free_block(size: int, *, low: int = 20000, high: int = 60000, attempts: int = 200) -> int:
    """The first port of `size` consecutive free ports (the local mesh numbers its sidecars from one base)."""
    rng = random.Random()  # noqa: S311 -- spreads test runs over the port range; nothing secret
    for _ in range(attempts):
        start = rng.randrange(low, high - size)
        if all(is_free(port) for port in range(start, start + size)):
            return start
    raise RuntimeError(f"no block of {size} free ports found between {low} and {high}")

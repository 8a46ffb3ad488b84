"""Another user of the machine, as an attacker on a shared host would be: a forked child of the test that
drops to `nobody` (setgroups, setgid, setuid — for good) and then tries the suite's Unix sockets.

A fork, not an exec: nothing has to be executable or readable by that user (this checkout's interpreter
may live under a home folder it cannot enter), and the child runs only socket calls before `os._exit`.
Switching users needs root; the e2e tests run as root on these machines.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import socket
from collections.abc import Sequence
from pathlib import Path

OTHER_USER = "nobody"


def can_switch_user() -> bool:
    return os.geteuid() == 0


def try_sockets(paths: Sequence[Path], request: bytes = b"") -> dict[str, str]:
    """Path -> what `nobody` got: an errno name (`EACCES`), or `connected` plus, with `request` sent, the
    first line of the answer."""
    entry = pwd.getpwnam(OTHER_USER)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            results = {str(path): _attempt(path, request) for path in paths}
            os.write(write_end, json.dumps({"uid": os.getuid(), "results": results}).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, code = os.waitpid(pid, 0)
    assert code == 0, f"the {OTHER_USER} child failed (wait status {code})"
    answer = json.loads(payload)
    assert answer["uid"] == entry.pw_uid  # it really was another user
    return answer["results"]


def _attempt(path: Path, request: bytes) -> str:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(5)
    try:
        conn.connect(str(path))
        if not request:
            return "connected"
        conn.sendall(request)
        return "connected: " + conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as e:
        return errno.errorcode.get(e.errno or 0, str(e))
    finally:
        conn.close()

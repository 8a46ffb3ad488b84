"""devstack.uds_app: the app's socket is created with mode 0600, whatever the umask of the process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devstack.uds_app import bind_private_socket


def test_the_socket_is_bound_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    path.touch()  # a stale file where the socket goes is replaced
    previous = os.umask(0)
    try:
        sock = bind_private_socket(path)
        assert os.umask(0) == 0  # and the umask is given back as it was
    finally:
        os.umask(previous)
    with sock:
        mode = path.stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600

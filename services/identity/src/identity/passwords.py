"""Password checks off the event loop, in a small pool of their own.

A PBKDF2 check (120,000 rounds) costs ~50 ms of CPU. Run inside an `async def` it would stop every other
request for that long; run on anyio's default pool (the one FastAPI's `def` endpoints and our database
calls share, 40 threads) a flood of guesses would take all of it. So the hashes get their own
`CapacityLimiter`, `IDENTITY_PASSWORD_HASH_THREADS` wide: a flood queues here while /jwks, introspection
and the rest keep their threads and the loop stays free. hashlib releases the GIL while it hashes.
"""

from __future__ import annotations

import anyio
import anyio.to_thread

from identity.realm import Realm, User


class PasswordPool:
    """Checks passwords on at most `threads` worker threads at once. Build it inside the running loop."""

    def __init__(self, threads: int) -> None:
        self._limiter = anyio.CapacityLimiter(threads)

    async def authenticate(self, realm: Realm, username: str, password: str) -> User | None:
        return await anyio.to_thread.run_sync(realm.authenticate_user, username, password, limiter=self._limiter)

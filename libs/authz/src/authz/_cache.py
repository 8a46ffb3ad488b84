"""One bounded, expiring cache for the hot paths that remember a token's outcome.

Verified claims (`TokenVerifier`), the gateway's internal tokens (reissue) and resolved opaque tokens
(phantom) all keep "this token → what we worked out" until a deadline, in bounded memory: a flood of new
tokens must evict old entries, never grow the process.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """A map of at most `max_size` entries, each with a deadline (a clock value, e.g. a token's `exp`).

    `get` hands out an entry only while `deadline - now > fresh_for` (a caller that wants some life left,
    like reissue's reuse margin, says how much) and drops it otherwise; `put` evicts the least recently
    used entries beyond `max_size`. `max_size <= 0` caches nothing. Not thread-safe: one event loop's.
    """

    def __init__(self, max_size: int) -> None:
        self._max = max_size
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float, *, fresh_for: float = 0.0) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline - now <= fresh_for:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, deadline: float) -> None:
        if self._max <= 0:
            return
        self._entries[key] = (value, deadline)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

"""Paging parameters with documented bounds, the same in every service (docs/reliability.md, "Input bounds").

Past a bound the answer is 422, never a database error: an `OFFSET` above 2^63 once overflowed SQLite's
integer and came back as a 500. `limit` has a hard bound here and is then cut to the service's
`page_size_max` setting (a larger page is no error: the client gets at most that many and the `count`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

#: The largest offset accepted: fits a 32-bit signed integer, so every database takes it as it is.
MAX_OFFSET = 2**31 - 1
#: The largest `limit` accepted (the largest `page_size_max` a service may be configured with).
MAX_LIMIT = 1000

Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"How many items to skip (0 to {MAX_OFFSET}; 422 past it).")
]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description=f"How many items at most (1 to {MAX_LIMIT}; 422 past it), cut to the service's page size.",
    ),
]

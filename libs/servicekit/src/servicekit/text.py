"""Text a database can store: PostgreSQL's `text` cannot hold the NUL character (U+0000).

Without this check a title with a NUL in it passed validation, SQLite stored it, and PostgreSQL's driver
refused it — a 500, found by the fuzzer (tests/e2e/test_fuzz_openapi.py). Use it as a pydantic validator on
every string field that is stored: the client gets a 422 naming the field.
"""

from __future__ import annotations


def storable(value: str | None) -> str | None:
    """`value` unchanged, or ValueError (a 422) if it holds a NUL character."""
    if value is not None and "\x00" in value:
        raise ValueError("may not contain the NUL character (U+0000)")
    return value

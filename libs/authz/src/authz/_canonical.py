"""The one canonical form of a request target (path and query), shared by the gateway and the services.

The gateway routes by it, forwards it and (in `extract`) signs it; a service recomputes it from what it
received and checks the signature against that. It is a fixed point of what the mesh's sidecars do to a
path (Envoy's `normalize_path` and `merge_slashes`: RFC 3986 section 6.2.2 normalisation), so the service
sees the same target with and without the mesh:

- only the characters RFC 3986 allows in a path (`pchar` and `/`; in the query also `?`) — anything else
  is refused, never escaped on the way (an escape added by one hop and not by another would break it);
- `%XX` escapes well formed; an escaped unreserved character (`%74` for `t`) decoded, the others kept
  with upper-case hex digits (RFC 3986 section 6.2.2.1 and 6.2.2.2);
- runs of `/` merged into one;
- no `.` or `..` segment (also not as `%2E`): refused, so nothing climbs out of the routed service.
"""

from __future__ import annotations

import string

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
#: What a path segment may hold unescaped: RFC 3986 section 3.3 `pchar` without its `%XX` escapes.
SEGMENT_CHARS = _UNRESERVED | _SUB_DELIMS | frozenset(":@")
_PATH_CHARS = SEGMENT_CHARS | frozenset("/%")
_QUERY_CHARS = _PATH_CHARS | frozenset("?")
_HEX = frozenset(string.hexdigits)


class BadTarget(ValueError):
    """The request target has no canonical form (a character or escape it may not have, a dot segment)."""


def canonical_path(raw: str) -> str:
    """The canonical form of a raw (still percent-encoded) path; `BadTarget` if it has none."""
    if not raw.startswith("/"):
        raise BadTarget("the path must start with /")
    # Most paths are canonical as sent (no escape, no repeated slash, only allowed characters): one set check
    # instead of the character loop below, on every request through the gateway (docs/performance.md);
    # `issuperset` walks the string without building a set of it first.
    already_canonical = "%" not in raw and "//" not in raw and _PATH_CHARS.issuperset(raw)
    path = raw if already_canonical else _normalised(raw)
    # Every segment follows a `/` (the path starts with one): without "/." there is no dot segment to look for.
    if "/." in path and any(segment in (".", "..") for segment in path.split("/")):
        raise BadTarget("dot segments are not allowed in the path")
    return path


def _normalised(raw: str) -> str:
    """`raw` with its escapes normalised and its runs of `/` merged; `BadTarget` for what has no canonical form."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char not in _PATH_CHARS:
            raise BadTarget(f"the path may not contain {char!r} unescaped")
        if char == "%":
            escape = raw[i + 1 : i + 3]
            if len(escape) != 2 or not set(escape) <= _HEX:
                raise BadTarget("a % in the path must start an escape of two hex digits")
            decoded = chr(int(escape, 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + escape.upper())
            i += 3
            continue
        if char != "/" or not out or out[-1] != "/":
            out.append(char)
        i += 1
    return "".join(out)


def canonical_query(raw: str) -> str:
    """The query as sent, once checked: the sidecars do not touch it, so neither does anyone else."""
    if _QUERY_CHARS.issuperset(raw):
        return raw
    bad = set(raw) - _QUERY_CHARS
    if bad:
        raise BadTarget(f"the query may not contain {sorted(bad)[0]!r} unescaped")
    return raw


def canonical_target(raw_path: str, query: str) -> str:
    """`path?query` (or just `path`) in canonical form."""
    path = canonical_path(raw_path)
    return f"{path}?{canonical_query(query)}" if query else path

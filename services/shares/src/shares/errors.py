"""The refusals of the sharing workflow, as domain errors; `routes` answers each with its status.

Each carries a `detail` for the caller. A todos or directory that answers outside its contract raises
`servicekit.UpstreamError` instead (502).
"""

from __future__ import annotations


class ShareError(Exception):
    """A share (or its revocation) that cannot be done; `detail` says why, in words for the caller."""

    detail = "the share cannot be made"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.detail
        super().__init__(self.detail)


class InvalidGrantee(ShareError):
    """The grantee is not someone this todo can be shared with: unknown, or the caller."""


class AlreadyShared(ShareError):
    """The caller already shared this todo with this user (one record per todo and grantee)."""

    detail = "this todo is already shared with this user"


class TodoNotVisible(ShareError):
    """todos has no todo with this id that the caller may see."""

    detail = "no todo with this id is visible to you"


class NotTodoOwner(ShareError):
    """The caller may see the todo but not change who it is shared with: only its owner may."""

    detail = "you may see this todo but not share it: only its owner can"


class GrantInvalid(ShareError):
    """todos refused the grant itself as invalid."""

    detail = "todos refused this grant as invalid (is the grantee the todo's owner?)"


class ShareNotFound(ShareError):
    """No share record with this id that the caller sent."""

    detail = "no share with this id is visible to you"

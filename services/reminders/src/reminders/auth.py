"""What each reminders endpoint demands of its caller, as named dependency types.

Handlers take one of these and never look at a header: `principal: auth.RemindersRead`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

import authz
from authz import Kind, Principal

ADMIN_ROLE = "admin"

#: A user reading the reminders sent to them.
RemindersRead = Annotated[Principal, Depends(authz.require(scopes={"reminders:read"}, kind=Kind.USER))]
#: An admin user asking for a scan now (the schedule does it without anyone asking).
RemindersRun = Annotated[
    Principal, Depends(authz.require(scopes={"reminders:run"}, roles={ADMIN_ROLE}, kind=Kind.USER))
]
#: Any authenticated caller: user, service or delegated.
AnyCaller = Annotated[Principal, Depends(authz.get_principal)]

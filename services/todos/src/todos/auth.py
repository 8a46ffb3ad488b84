"""What each todos endpoint demands of its caller, as named dependency types.

Handlers take one of these and never look at a header: `principal: auth.TodosRead`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

import authz
from authz import Kind, Principal

ADMIN_ROLE = "admin"

#: A user reading their todos (and, with the admin role, anyone's).
TodosRead = Annotated[Principal, Depends(authz.require(scopes={"todos:read"}, kind=Kind.USER))]
#: A user creating or changing their own todos.
TodosWrite = Annotated[Principal, Depends(authz.require(scopes={"todos:write"}, kind=Kind.USER))]
#: Any authenticated caller: user, service or delegated.
AnyCaller = Annotated[Principal, Depends(authz.get_principal)]

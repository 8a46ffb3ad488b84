"""What each shares endpoint demands of its caller, as named dependency types.

Handlers take one of these and never look at a header: `principal: auth.SharesWrite`. Every shares
endpoint is for a user: a service token, or a token another service exchanged, is refused (403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

import authz
from authz import Kind, Principal

#: A user listing the shares they sent and the todos shared with them.
SharesRead = Annotated[Principal, Depends(authz.require(scopes={"shares:read"}, kind=Kind.USER))]
#: A user sharing their todo, or revoking a share they sent.
SharesWrite = Annotated[Principal, Depends(authz.require(scopes={"shares:write"}, kind=Kind.USER))]
#: Any authenticated caller: user, service or delegated.
AnyCaller = Annotated[Principal, Depends(authz.get_principal)]

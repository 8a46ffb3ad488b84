"""What each todos endpoint demands of its caller, as named dependency types.

Handlers take one of these and never look at a header: `principal: auth.TodosRead`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

import authz
from authz import Kind, Principal

ADMIN_ROLE = "admin"

# The operation names below are the ones TODOS_DELEGATED_ACTORS may grant to a service acting for a
# user; an endpoint without one refuses every delegated token.

#: A user reading a todo they may see (also `shares` for the user: operation "read").
TodosRead = Annotated[Principal, Depends(authz.require(scopes={"todos:read"}, kind=Kind.USER, operation="read"))]
#: A user listing their own todos (never delegated: no service needs a user's whole list).
TodosList = Annotated[Principal, Depends(authz.require(scopes={"todos:read"}, kind=Kind.USER))]
#: A user creating or changing their own todos (never delegated).
TodosWrite = Annotated[Principal, Depends(authz.require(scopes={"todos:write"}, kind=Kind.USER))]
#: A user reading the todos shared with them (also `shares` for the user: "read_shared").
SharedRead = Annotated[
    Principal, Depends(authz.require(scopes={"todos:read"}, kind=Kind.USER, operation="read_shared"))
]
#: Only `shares`, acting for the owner, grants or revokes access: the user's own token is refused here.
GrantWrite = Annotated[
    Principal,
    Depends(authz.require(scopes={"todos:share"}, kind=Kind.USER, operation="grant", delegated_only=True)),
]
GrantRevoke = Annotated[
    Principal,
    Depends(authz.require(scopes={"todos:share"}, kind=Kind.USER, operation="revoke", delegated_only=True)),
]
#: The admin role reads the audit of service and delegated calls.
AuditRead = Annotated[Principal, Depends(authz.require(scopes={"todos:read"}, roles={ADMIN_ROLE}, kind=Kind.USER))]
#: Any authenticated caller: user, service or delegated.
AnyCaller = Annotated[Principal, Depends(authz.get_principal)]


def _due_reader(
    principal: Annotated[Principal, Depends(authz.require(scopes={"todos:due:read"}, kind=Kind.SERVICE))],
    request: Request,
) -> Principal:
    # The client names are settings (an IdP may name clients differently), so checked here, not at import.
    if principal.client_id not in request.state.settings.due_readers:
        raise authz.WrongClient(f"client {principal.client_id!r} may not read the due-soon query")
    return principal


#: A service (reminders) reading what falls due, with its own client-credentials token.
DueRead = Annotated[Principal, Depends(_due_reader)]

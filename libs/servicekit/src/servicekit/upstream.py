"""The one error an outbound client raises when another service answers outside its contract."""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger("servicekit.upstream")


class UpstreamError(httpx.HTTPError):
    """Another service answered, but not with what its contract promises (a status or a body it does not
    document), so the call is as good as failed.

    An `httpx.HTTPError`, so by default `authz.install_problem_handlers` answers it like any failed call
    to another service (502 `upstream-unavailable`); a service that names the failed step maps it itself.
    `what` says which step failed, in words fit for the caller: the other service's body is never passed
    on (it is about its caller, this service, not about ours).
    """

    def __init__(self, what: str, response: httpx.Response | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.response = response
        if response is not None:
            log.warning(
                "%s: %s %s answered %s", what, response.request.method, response.request.url, response.status_code
            )

"""The error tree of `authz`: every refusal says which check failed.

`NotAuthenticated` and its subclasses become 401 with an RFC 6750 `WWW-Authenticate` header;
`Forbidden` and its subclasses become 403. `install_problem_handlers` renders both as RFC 9457
problem details. Ref: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
"""

from __future__ import annotations


class AuthzError(Exception):
    """Base of every refusal raised by `authz`."""

    status_code = 401
    #: The RFC 6750 error code for `WWW-Authenticate` (None: the request carried no credentials at all).
    oauth_error: str | None = "invalid_token"
    #: A short, stable slug used in the problem `type` URI.
    slug = "invalid-token"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or (self.__doc__ or "").strip().splitlines()[0])

    @property
    def detail(self) -> str:
        return str(self.args[0])


class NotAuthenticated(AuthzError):
    """The request's credentials are missing or not acceptable."""


class MissingToken(NotAuthenticated):
    """No bearer token in the Authorization header."""

    oauth_error = None
    slug = "missing-token"


class MalformedToken(NotAuthenticated):
    """The token is not a well-formed JWS compact serialization."""

    slug = "malformed-token"


class DisallowedAlgorithm(NotAuthenticated):
    """The token's `alg` header is not in the allowlist (`none` and HMAC never are)."""

    slug = "disallowed-algorithm"


class WrongTokenType(NotAuthenticated):
    """The token's `typ` header is not `at+jwt` (RFC 9068 section 2.1)."""

    slug = "wrong-token-type"


class UnknownKey(NotAuthenticated):
    """The token's `kid` names no key in the issuer's JWKS."""

    slug = "unknown-key"


class InvalidSignature(NotAuthenticated):
    """The token's signature does not verify with the issuer's key."""

    slug = "invalid-signature"


class ExpiredToken(NotAuthenticated):
    """The token's `exp` claim is in the past."""

    slug = "expired-token"


class TokenNotYetValid(NotAuthenticated):
    """The token's `nbf` or `iat` claim is in the future."""

    slug = "token-not-yet-valid"


class WrongAudience(NotAuthenticated):
    """The token's `aud` claim does not name this service."""

    slug = "wrong-audience"


class WrongIssuer(NotAuthenticated):
    """The token's `iss` claim is not the trusted issuer."""

    slug = "wrong-issuer"


class MissingClaim(NotAuthenticated):
    """The token lacks a claim this service requires."""

    slug = "missing-claim"


class KeySetUnavailable(NotAuthenticated):
    """The issuer's JWKS could not be fetched, so no token can be verified now."""

    slug = "jwks-unavailable"


class InactiveToken(NotAuthenticated):
    """The issuer says the token is not active (unknown, expired or revoked: RFC 7662 does not say which)."""

    slug = "inactive-token"


class ReplayedSignature(NotAuthenticated):
    """`extract`: this signed request was received before (its nonce is spent): a replay."""

    slug = "replayed-signature"


class NotAnEdgeToken(NotAuthenticated):
    """The gateway takes only users' own tokens from edge clients: not a delegated or a service's token."""

    slug = "not-an-edge-token"


class ReplayCacheFull(AuthzError):
    """`extract`: more fresh signed requests arrived than this service remembers nonces for; try again."""

    status_code = 503
    oauth_error = None
    slug = "replay-cache-full"


class IssuerUnavailable(AuthzError):
    """The issuer could not be asked about the token now; the token may be fine, so this is not a 401."""

    status_code = 503
    oauth_error = None
    slug = "issuer-unavailable"


class InvalidRequest(AuthzError):
    """The request carries its credentials in a way RFC 6750 does not allow (e.g. two Authorization headers)."""

    status_code = 400
    oauth_error = "invalid_request"
    slug = "invalid-request"


class Forbidden(AuthzError):
    """The caller is authenticated but lacks the right for this request."""

    status_code = 403
    oauth_error: str | None = "insufficient_scope"
    slug = "forbidden"


class MissingScope(Forbidden):
    """The token lacks a scope this request needs."""

    slug = "missing-scope"

    def __init__(self, missing: set[str] | frozenset[str]) -> None:
        self.missing = frozenset(missing)
        super().__init__(f"the token lacks the scope {' '.join(sorted(self.missing))}")


class MissingRole(Forbidden):
    """The user lacks a role this request needs."""

    oauth_error = None
    slug = "missing-role"


class WrongPrincipalKind(Forbidden):
    """The caller is of the wrong kind here (a user where a service is expected, or the reverse)."""

    oauth_error = None
    slug = "wrong-principal-kind"


class WrongClient(Forbidden):
    """The calling client is not one this endpoint serves."""

    oauth_error = None
    slug = "wrong-client"


class DelegationRefused(Forbidden):
    """A delegated call (a token with `act`) for an operation this service does not allow that actor."""

    oauth_error = None
    slug = "delegation-refused"


class NotDelegated(Forbidden):
    """This endpoint takes only delegated calls (a service acting for a user), and this call is not one."""

    oauth_error = None
    slug = "not-delegated"


class PeerMismatch(Forbidden):
    """With the mesh on, the calling workload and the token disagree about who is calling."""

    oauth_error = None
    slug = "peer-mismatch"


class MalformedPeer(Forbidden):
    """With the mesh on, the request carries no usable mesh peer (no or a malformed X-Forwarded-Client-Cert)."""

    oauth_error = None
    slug = "no-mesh-peer"


class ConfigurationError(Exception):
    """`authz` was configured in a way it refuses to run with (it fails closed)."""

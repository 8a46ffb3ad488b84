"""authz: how every todo-suite service decides who is calling and what they may do.

Verify access tokens (JWKS from OIDC discovery, parsed once, refetched on an unknown `kid`), build a
`Principal`, demand rights with FastAPI dependencies, and answer refusals as RFC 6750 challenges
with RFC 9457 problem bodies. See libs/authz/README.md.
"""

from authz._client import OAuthClient, OutboundAuthError
from authz._fastapi import STATE_KEY, Authenticator, bearer_token, get_principal, require
from authz._jwks import JwksCache, KeySource, StaticKeySource
from authz._principal import Kind, Principal, Source
from authz._problems import (
    PROBLEM_JSON,
    TYPE_PREFIX,
    ProblemResponse,
    authz_error_response,
    install_problem_handlers,
    problem,
)
from authz._settings import AuthzSettings, Mode
from authz._signed_headers import SignedIdentity, is_identity_header, sign_identity, verify_identity
from authz._unix_sockets import unix_socket_mounts
from authz._verify import ACCESS_TOKEN_TYPES, TokenVerifier, peek_issuer
from authz.exceptions import (
    AuthzError,
    ConfigurationError,
    DelegationRefused,
    DisallowedAlgorithm,
    ExpiredToken,
    Forbidden,
    InactiveToken,
    InvalidRequest,
    InvalidSignature,
    IssuerUnavailable,
    KeySetUnavailable,
    MalformedPeer,
    MalformedToken,
    MissingClaim,
    MissingRole,
    MissingScope,
    MissingToken,
    NotAuthenticated,
    NotDelegated,
    PeerMismatch,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongClient,
    WrongIssuer,
    WrongPrincipalKind,
    WrongTokenType,
)

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "PROBLEM_JSON",
    "STATE_KEY",
    "TYPE_PREFIX",
    "Authenticator",
    "AuthzError",
    "AuthzSettings",
    "ConfigurationError",
    "DelegationRefused",
    "DisallowedAlgorithm",
    "ExpiredToken",
    "Forbidden",
    "InactiveToken",
    "InvalidRequest",
    "InvalidSignature",
    "IssuerUnavailable",
    "JwksCache",
    "KeySetUnavailable",
    "KeySource",
    "Kind",
    "MalformedPeer",
    "MalformedToken",
    "MissingClaim",
    "MissingRole",
    "MissingScope",
    "MissingToken",
    "Mode",
    "NotAuthenticated",
    "NotDelegated",
    "OAuthClient",
    "OutboundAuthError",
    "PeerMismatch",
    "Principal",
    "ProblemResponse",
    "SignedIdentity",
    "Source",
    "StaticKeySource",
    "TokenNotYetValid",
    "TokenVerifier",
    "UnknownKey",
    "WrongAudience",
    "WrongClient",
    "WrongIssuer",
    "WrongPrincipalKind",
    "WrongTokenType",
    "authz_error_response",
    "bearer_token",
    "get_principal",
    "install_problem_handlers",
    "is_identity_header",
    "peek_issuer",
    "problem",
    "require",
    "sign_identity",
    "unix_socket_mounts",
    "verify_identity",
]

"""The realm: users, clients and APIs, loaded once from one readable TOML file."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from authz.environment import refuse_development_secrets

log = logging.getLogger("identity.realm")

GRANT_PASSWORD = "password"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
_PBKDF2_ROUNDS = 120_000


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ROUNDS)


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str
    roles: tuple[str, ...]
    _salt: bytes = field(repr=False)
    _password_hash: bytes = field(repr=False)

    def check_password(self, password: str) -> bool:
        return hmac.compare_digest(_hash_password(password, self._salt), self._password_hash)

    def public(self) -> dict[str, str]:
        """What the user directory tells a service holding `users:read`."""
        return {"id": self.id, "username": self.username, "email": self.email}


@dataclass(frozen=True)
class Client:
    client_id: str
    public: bool
    grant_types: frozenset[str]
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    admin: bool = False
    secret: str | None = field(default=None, repr=False)
    #: Phantom token: the client gets an opaque handle, never the JWT it stands for (see identity.phantom).
    opaque_access_tokens: bool = False
    #: May ask /introspect what a token is (RFC 7662): the gateway, not every confidential client.
    may_introspect: bool = False
    #: May trade an opaque handle for its JWT at introspection (`Accept: application/jwt`): the gateway.
    may_resolve_phantom_tokens: bool = False
    #: Where /authorize may send a code: matched exactly, character for character (RFC 9700 section 2.1).
    redirect_uris: tuple[str, ...] = ()
    #: Where /logout may send the browser afterwards (OIDC RP-Initiated Logout), matched exactly too.
    post_logout_redirect_uris: tuple[str, ...] = ()
    #: A native app (RFC 8252): its `http://127.0.0.1/...` redirect URIs match with any port, as section 7.3
    #: allows, because the app listens on whatever port the OS gives it. Only loopback URIs, only for this flag.
    loopback_redirect: bool = False

    def check_secret(self, secret: str) -> bool:
        # A confidential client whose secret is not configured can never authenticate (fail closed).
        if not self.secret:
            return False
        return hmac.compare_digest(secret.encode(), self.secret.encode())


@dataclass(frozen=True)
class Realm:
    name: str
    users: Mapping[str, User]  # by username
    users_by_id: Mapping[str, User]
    clients: Mapping[str, Client]
    api_scopes: Mapping[str, frozenset[str]]  # audience -> scopes

    def authenticate_user(self, username: str, password: str) -> User | None:
        """The user if the password is right. An unknown name costs the same hash, so timing tells nothing."""
        user = self.users.get(username)
        if user is None:
            _hash_password(password, b"unknown-user-salt")
            return None
        return user if user.check_password(password) else None

    def scopes_for(self, audiences: tuple[str, ...]) -> frozenset[str]:
        return frozenset().union(*(self.api_scopes.get(a, frozenset()) for a in audiences))


def refuse_development_client_secrets(realm: Realm, env: str) -> None:
    """Outside `env=dev`, a client secret published in k8s/**/dev-secrets stops start-up (authz.environment)."""
    refuse_development_secrets(env, {f"the client secret of {c.client_id}": c.secret for c in realm.clients.values()})


def load_realm(path: Path, environ: Mapping[str, str] = os.environ) -> Realm:
    """Read the realm file; confidential clients take their secrets from the environment."""
    data = tomllib.loads(path.read_text())
    users: dict[str, User] = {}
    for u in data.get("users", []):
        salt = secrets.token_bytes(16)
        users[u["username"]] = User(
            id=u["id"],
            username=u["username"],
            email=u["email"],
            roles=tuple(u.get("roles", ())),
            _salt=salt,
            _password_hash=_hash_password(u["password"], salt),
        )
    clients: dict[str, Client] = {}
    for c in data.get("clients", []):
        # An empty variable is no secret: `X=${UNSET}` in a compose file must not mean "empty password".
        secret = (environ.get(c["secret_env"]) or None) if "secret_env" in c else None
        public = bool(c.get("public", False))
        if not public and not secret:
            log.warning("client %s has no secret in $%s: it cannot authenticate", c["client_id"], c.get("secret_env"))
        clients[c["client_id"]] = Client(
            client_id=c["client_id"],
            public=public,
            grant_types=frozenset(c.get("grant_types", ())),
            audiences=tuple(c.get("audiences", ())),
            scopes=frozenset(c.get("scopes", ())),
            admin=bool(c.get("admin", False)),
            secret=secret,
            opaque_access_tokens=bool(c.get("opaque_access_tokens", False)),
            may_introspect=bool(c.get("may_introspect", False)),
            may_resolve_phantom_tokens=bool(c.get("may_resolve_phantom_tokens", False)),
            redirect_uris=tuple(c.get("redirect_uris", ())),
            post_logout_redirect_uris=tuple(c.get("post_logout_redirect_uris", ())),
            loopback_redirect=bool(c.get("loopback_redirect", False)),
        )
    api_scopes = {a["audience"]: frozenset(a.get("scopes", ())) for a in data.get("apis", [])}
    return Realm(
        name=data.get("realm", {}).get("name", "todo-suite"),
        users=users,
        users_by_id={u.id: u for u in users.values()},
        clients=clients,
        api_scopes=api_scopes,
    )


def with_opaque_tokens(realm: Realm, client_ids: Iterable[str]) -> Realm:
    """The realm with opaque access tokens turned on for these clients (`IDENTITY_OPAQUE_TOKEN_CLIENTS`).

    A deployment switches the phantom-token mode on without editing the realm file. A name the realm
    does not know is a typo that would silently leave the client on JWTs: refuse to start instead.
    """
    wanted = list(dict.fromkeys(client_ids))
    unknown = [c for c in wanted if c not in realm.clients]
    if unknown:
        raise ValueError(
            f"IDENTITY_OPAQUE_TOKEN_CLIENTS names clients the realm {realm.name!r} does not have: "
            f"{', '.join(unknown)} (it has: {', '.join(sorted(realm.clients))})"
        )
    if not wanted:
        return realm
    clients = dict(realm.clients)
    for client_id in wanted:
        clients[client_id] = replace(clients[client_id], opaque_access_tokens=True)
    return replace(realm, clients=clients)


def with_client_uris(realm: Realm, uris: Mapping[str, Mapping[str, list[str]]]) -> Realm:
    """The realm with these clients' redirect and post-logout URIs replaced (`IDENTITY_CLIENT_URIS`).

    `make up` and the e2e tests run the web UI on whatever port is free, and write that run's URIs here:
    matching stays exact, and no client ever gets "any port" it does not need. An unknown client or key
    stops start-up, as a typo would otherwise leave the old URIs in force.
    """
    unknown = [c for c in uris if c not in realm.clients]
    if unknown:
        raise ValueError(
            f"IDENTITY_CLIENT_URIS names clients the realm {realm.name!r} does not have: {', '.join(unknown)}"
        )
    clients = dict(realm.clients)
    for client_id, fields in uris.items():
        bad = set(fields) - {"redirect_uris", "post_logout_redirect_uris"}
        if bad:
            raise ValueError(f"IDENTITY_CLIENT_URIS[{client_id!r}]: unknown keys {', '.join(sorted(bad))}")
        client = clients[client_id]
        clients[client_id] = replace(
            client,
            redirect_uris=tuple(fields.get("redirect_uris", client.redirect_uris)),
            post_logout_redirect_uris=tuple(fields.get("post_logout_redirect_uris", client.post_logout_redirect_uris)),
        )
    return replace(realm, clients=clients)

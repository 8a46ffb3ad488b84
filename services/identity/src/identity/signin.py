"""Sign-in state in identity's database: login sessions, authorization codes and refresh token families.

Every method here is blocking database work: routes call them through `anyio.to_thread.run_sync`, never on
the event loop. Secrets (session cookies, codes, refresh tokens) are 256 random bits handed to the browser or
client once; the tables keep only their SHA-256, so whoever reads the database cannot present one.

The rules, and the RFCs behind them, are in docs/identity.md ("Signing in").
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from identity.models import AuthorizationCode, LoginSession, RefreshToken, RevokedToken


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Issued:
    """What one redemption issues, named before it is issued so that the claim records it atomically."""

    access_jti: str
    access_expires_at: float
    family_id: str


class Redemption(Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    #: The code was redeemed before: what that redemption issued is now revoked (RFC 6749 section 4.1.2).
    REPLAYED = "replayed"


class Rotation(Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    #: A rotated (already used) refresh token came back: the whole family is revoked (RFC 9700 section 4.14.2).
    REUSED = "reused"
    #: Revoked, expired, or its session ended.
    INACTIVE = "inactive"


class SignInStore:
    """Sessions, codes and refresh tokens, and the rules about their lifetimes."""

    def __init__(
        self,
        engine: Engine,
        *,
        session_lifetime: float,
        code_lifetime: float,
        refresh_lifetime: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.session_lifetime = session_lifetime
        self.code_lifetime = code_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.now = clock

    # --- login sessions -------------------------------------------------------------------------------

    def start_session(self, user_id: str, *, replacing: str | None = None) -> tuple[str, LoginSession]:
        """A new session for a user who just typed a password; `replacing` (the old cookie) ends first."""
        if replacing:
            old = self.active_session(replacing)
            if old is not None:
                self.end_session(old.sid)
        cookie, now = new_secret(), self.now()
        row = LoginSession(
            cookie_sha256=digest(cookie), sid=new_id(), user_id=user_id, auth_time=now,
            expires_at=now + self.session_lifetime,
        )  # fmt: skip
        with Session(self._engine, expire_on_commit=False) as session:
            session.add(row)
            # Whatever expired a day ago is of no use to anyone: pruned as new sign-ins come.
            stale = now - 86_400
            session.exec(delete(LoginSession).where(col(LoginSession.expires_at) < stale))
            session.exec(delete(RefreshToken).where(col(RefreshToken.expires_at) < stale))
            session.commit()
        return cookie, row

    def active_session(self, cookie: str) -> LoginSession | None:
        with Session(self._engine) as session:
            row = session.get(LoginSession, digest(cookie))
        return row if row is not None and self._active(row) else None

    def session_by_sid(self, sid: str) -> LoginSession | None:
        with Session(self._engine) as session:
            row = session.exec(select(LoginSession).where(col(LoginSession.sid) == sid)).first()
        return row if row is not None and self._active(row) else None

    def _active(self, row: LoginSession) -> bool:
        return row.ended_at is None and row.expires_at > self.now()

    def end_session(self, sid: str) -> None:
        """Logout: the session ends, and with it every refresh token family bound to it (and their access tokens)."""
        now = self.now()
        with Session(self._engine) as session:
            session.exec(
                update(LoginSession)
                .where(col(LoginSession.sid) == sid, col(LoginSession.ended_at).is_(None))
                .values(ended_at=now)
            )
            families = session.exec(
                select(col(RefreshToken.family_id)).where(col(RefreshToken.sid) == sid).distinct()
            ).all()
            for family_id in families:
                self._revoke_family(session, family_id)
            session.commit()

    # --- authorization codes --------------------------------------------------------------------------

    def new_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        code_challenge: str,
        scope: str,
        nonce: str | None,
        login: LoginSession,
    ) -> str:
        code = new_secret()
        row = AuthorizationCode(
            code_sha256=digest(code), client_id=client_id, redirect_uri=redirect_uri,
            code_challenge=code_challenge, user_id=login.user_id, scope=scope, nonce=nonce, sid=login.sid,
            auth_time=login.auth_time, expires_at=self.now() + self.code_lifetime,
        )  # fmt: skip
        with Session(self._engine) as session:
            session.add(row)
            # Codes are dead a minute later: pruned as new ones come.
            session.exec(delete(AuthorizationCode).where(col(AuthorizationCode.expires_at) < self.now() - 3600))
            session.commit()
        return code

    def find_code(self, code: str) -> AuthorizationCode | None:
        with Session(self._engine) as session:
            return session.get(AuthorizationCode, digest(code))

    def redeem_code(self, code: str, issued: Issued) -> Redemption:
        """Mark the code redeemed, recording what it issues: one request wins, even when two race.

        A code already redeemed is a replay: the tokens issued for it (the access token and its refresh
        token family) are revoked, since either the client or an attacker holds a code it should not reuse.
        """
        key = digest(code)
        with Session(self._engine) as session:
            claimed = session.exec(
                update(AuthorizationCode)
                .where(col(AuthorizationCode.code_sha256) == key, col(AuthorizationCode.redeemed_at).is_(None))
                .values(
                    redeemed_at=self.now(),
                    access_jti=issued.access_jti,
                    access_expires_at=issued.access_expires_at,
                    family_id=issued.family_id,
                )
            ).rowcount
            if claimed == 1:
                session.commit()
                return Redemption.OK
            row = session.get(AuthorizationCode, key)
            if row is None:
                return Redemption.UNKNOWN
            if row.access_jti and row.access_expires_at:
                self._revoke_jti(session, row.access_jti, row.access_expires_at)
            if row.family_id:
                self._revoke_family(session, row.family_id)
            session.commit()
            return Redemption.REPLAYED

    # --- refresh tokens -------------------------------------------------------------------------------

    def new_refresh_token(
        self, *, family_id: str, client_id: str, scope: str, login: LoginSession, issued: Issued
    ) -> str:
        """The first token of a family (at the code's redemption). It never outlives the session."""
        with Session(self._engine) as session:
            token = self._add_refresh(session, family_id, client_id, scope, login.user_id, login.sid,
                                      login.auth_time, login.expires_at, issued)  # fmt: skip
            session.commit()
        return token

    def rotate(self, token: str, client_id: str, issued: Issued) -> tuple[Rotation, RefreshToken | None, str | None]:
        """Use a refresh token: it is spent, and a new one of the same family takes its place.

        Returns the outcome, the spent token's row (its user, scope, session) and the new token.
        """
        key = digest(token)
        now = self.now()
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.get(RefreshToken, key)
            if row is None or row.client_id != client_id:
                return Rotation.UNKNOWN, None, None
            if row.revoked_at is not None:
                return Rotation.INACTIVE, row, None
            login = session.exec(select(LoginSession).where(col(LoginSession.sid) == row.sid)).first()
            if row.used_at is None and (row.expires_at <= now or login is None or not self._active(login)):
                return Rotation.INACTIVE, row, None
            claimed = session.exec(
                update(RefreshToken)
                .where(col(RefreshToken.token_sha256) == key, col(RefreshToken.used_at).is_(None))
                .values(used_at=now)
            ).rowcount
            if claimed != 1:
                # Used before: the legitimate client and an attacker now hold the same family, and
                # identity cannot tell which is which, so the family ends (RFC 9700 section 4.14.2).
                self._revoke_family(session, row.family_id)
                session.commit()
                return Rotation.REUSED, row, None
            assert login is not None
            new = self._add_refresh(session, row.family_id, client_id, row.scope, row.user_id, row.sid,
                                    row.auth_time, login.expires_at, issued)  # fmt: skip
            session.commit()
            return Rotation.OK, row, new

    def revoke_refresh_token(self, token: str, client_id: str) -> bool | None:
        """RFC 7009 for a refresh token: its family ends, with the access tokens it issued (section 2.1).

        None: not a refresh token identity knows; False: another client's (refused, stays active); True: revoked.
        """
        with Session(self._engine) as session:
            row = session.get(RefreshToken, digest(token))
            if row is None:
                return None
            if row.client_id != client_id:
                return False
            self._revoke_family(session, row.family_id)
            session.commit()
            return True

    def family_revoked(self, family_id: str) -> bool:
        with Session(self._engine) as session:
            rows = session.exec(select(RefreshToken).where(col(RefreshToken.family_id) == family_id)).all()
        return bool(rows) and all(r.revoked_at is not None for r in rows)

    def _add_refresh(
        self, session: Session, family_id: str, client_id: str, scope: str, user_id: str, sid: str,
        auth_time: float, session_expires_at: float, issued: Issued,
    ) -> str:  # fmt: skip
        token = new_secret()
        session.add(
            RefreshToken(
                token_sha256=digest(token), family_id=family_id, client_id=client_id, user_id=user_id, scope=scope,
                sid=sid, auth_time=auth_time,
                expires_at=min(self.now() + self.refresh_lifetime, session_expires_at),
                access_jti=issued.access_jti, access_expires_at=issued.access_expires_at,
            )
        )  # fmt: skip
        return token

    def _revoke_family(self, session: Session, family_id: str) -> None:
        now = self.now()
        rows = session.exec(select(RefreshToken).where(col(RefreshToken.family_id) == family_id)).all()
        for row in rows:
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)
            if row.access_expires_at > now:
                self._revoke_jti(session, row.access_jti, row.access_expires_at)

    @staticmethod
    def _revoke_jti(session: Session, jti: str, expires_at: float) -> None:
        if session.get(RevokedToken, jti) is None:
            session.add(RevokedToken(jti=jti, expires_at=expires_at))
            session.flush()  # a family's tokens may share a jti with the code: the next get must see this one

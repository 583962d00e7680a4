"""Users, memberships, browser sessions and API tokens of the console and REST API.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); a login that fails
``LOCK_AFTER`` times in a row locks the account for ``LOCK_FOR``. Every change is audited."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as _utc
from hygie.store.state import audit
from hygie.store.state.models import Tenant
from hygie.store.state.models_access import ROLES, ApiToken, Membership, User, WebSession

LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
_hasher = PasswordHasher()
# verified against when the user does not exist, so that timing does not tell who exists
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AccessError(ValueError):
    """A request about users or tokens that cannot be done (unknown tenant, bad role...)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, and which tenants they may see: ``None`` means every tenant (admin)."""

    user_id: int
    username: str
    role: str
    tenants: frozenset[str] | None
    via: str = "session"  # or "token:<label>"

    @property
    def actor(self) -> str:
        return self.username if self.via == "session" else f"{self.username} ({self.via})"

    def sees(self, tenant_id: str) -> bool:
        return self.tenants is None or tenant_id in self.tenants

    def may_write(self) -> bool:
        return self.role != "viewer"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class AccessStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users -------------------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: str, tenants: list[str] = (),  # type: ignore[assignment]
                    actor: str = "system", display_name: str = "") -> int:
        if role not in ROLES:
            raise AccessError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if role != "admin" and not tenants:
            raise AccessError(f"a {role} user needs at least one tenant")
        if role == "hospital" and len(tenants) != 1:
            raise AccessError("a hospital user belongs to exactly one tenant")
        if len(password) < 10:
            raise AccessError("a password needs at least 10 characters")
        with Session(self.engine) as session, session.begin():
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise AccessError(f"user {username!r} exists already")
            for tenant in tenants:
                if session.get(Tenant, tenant) is None:
                    raise AccessError(f"unknown tenant {tenant!r}")
            user = User(username=username, display_name=display_name or username,
                        password_hash=_hasher.hash(password), role=role, created=_now(),
                        disabled=False, failed_logins=0)
            session.add(user)
            session.flush()
            session.add_all([Membership(user_id=user.id, tenant_id=t) for t in tenants])
            audit.record(session, actor, "user.create", username,
                         tenants[0] if len(tenants) == 1 else None, {"role": role, "tenants": list(tenants)})
            return user.id

    def set_password(self, username: str, password: str, actor: str) -> None:
        if len(password) < 10:
            raise AccessError("a password needs at least 10 characters")
        with Session(self.engine) as session, session.begin():
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise AccessError(f"unknown user {username!r}")
            user.password_hash = _hasher.hash(password)
            user.failed_logins, user.locked_until = 0, None
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            audit.record(session, actor, "user.password", username)

    def users(self) -> list[tuple[User, list[str]]]:
        with Session(self.engine) as session:
            users = list(session.scalars(select(User).order_by(User.username)))
            members: dict[int, list[str]] = {}
            for user_id, tenant in session.execute(select(Membership.user_id, Membership.tenant_id)):
                members.setdefault(user_id, []).append(tenant)
            return [(u, sorted(members.get(u.id, []))) for u in users]

    def principal(self, user_id: int, via: str = "session", role: str | None = None,
                  tenant: str | None = None) -> Principal | None:
        """The principal of an active user; a token narrows role and tenant, never widens."""
        with Session(self.engine) as session:
            user = session.get(User, user_id)
            if user is None or user.disabled:
                return None
            tenants: frozenset[str] | None = None
            if user.role != "admin":
                tenants = frozenset(session.scalars(select(Membership.tenant_id)
                                                    .where(Membership.user_id == user_id)))
            if tenant is not None:
                if tenants is not None and tenant not in tenants:
                    return None
                tenants = frozenset({tenant})
            return Principal(user.id, user.username, role or user.role, tenants, via)

    def principal_id(self, username: str) -> int | None:
        with Session(self.engine) as session:
            return session.scalar(select(User.id).where(User.username == username))

    # -- login -------------------------------------------------------------------------------
    def check_login(self, username: str, password: str, client: str) -> tuple[Principal | None, str]:
        """(principal, "") on success, else (None, reason for the audit log). The reason is
        never shown to the person logging in (it would tell which accounts exist)."""
        now = _now()
        with Session(self.engine) as session, session.begin():
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                _verify(_DUMMY_HASH, password)
                audit.record(session, username[:100], "login.failed", username[:100], None,
                             {"client": client, "reason": "unknown user"})
                return None, "unknown user"
            locked = _utc(user.locked_until)
            if user.disabled or (locked is not None and locked > now):
                reason = "disabled" if user.disabled else "locked"
                audit.record(session, username, "login.failed", username, None,
                             {"client": client, "reason": reason})
                return None, reason
            if not _verify(user.password_hash, password):
                user.failed_logins += 1
                reason = "bad password"
                if user.failed_logins >= LOCK_AFTER:
                    user.locked_until, user.failed_logins = now + LOCK_FOR, 0
                    reason = f"bad password, account locked for {LOCK_FOR}"
                audit.record(session, username, "login.failed", username, None,
                             {"client": client, "reason": reason})
                return None, reason
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            user.failed_logins, user.locked_until = 0, None
            audit.record(session, username, "login", username, None, {"client": client})
            user_id = user.id
        principal = self.principal(user_id)
        return principal, ""

    def check_sso(self, username: str, client: str, provider: str) -> tuple[Principal | None, str]:
        """A login vouched for by a single sign-on provider: the account must exist here and
        be active; its role and tenants are Hygie's, not the provider's."""
        with Session(self.engine) as session, session.begin():
            user = session.scalar(select(User).where(User.username == username))
            locked = _utc(user.locked_until) if user else None
            reason = ("unknown user" if user is None else "disabled" if user.disabled
                      else "locked" if locked is not None and locked > _now() else "")
            audit.record(session, username[:100], "login.failed" if reason else "login", username[:100], None,
                         {"client": client, "via": provider} | ({"reason": reason} if reason else {}))
            if reason or user is None:
                return None, reason
            user_id = user.id
        return self.principal(user_id), ""

    # -- browser sessions --------------------------------------------------------------------
    def open_session(self, user_id: int) -> tuple[str, str]:
        """A new session: (cookie secret, CSRF token)."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        with Session(self.engine) as session, session.begin():
            session.execute(delete(WebSession).where(WebSession.expires < now))
            session.add(WebSession(id_hash=_sha(secret), user_id=user_id, csrf_token=csrf,
                                   created=now, expires=now + SESSION_LIFETIME))
        return secret, csrf

    def session(self, secret: str) -> tuple[Principal, str] | None:
        """(principal, CSRF token) of a live session."""
        with Session(self.engine) as session:
            row = session.get(WebSession, _sha(secret))
            if row is None or _utc(row.expires) <= _now():  # type: ignore[operator]
                return None
            user_id, csrf = row.user_id, row.csrf_token
        principal = self.principal(user_id)
        return (principal, csrf) if principal else None

    def close_session(self, secret: str, actor: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(WebSession).where(WebSession.id_hash == _sha(secret)))
            audit.record(session, actor, "logout", actor)

    # -- API tokens ----------------------------------------------------------------------------
    def create_token(self, username: str, role: str, tenant: str | None, label: str,
                     actor: str) -> str:
        """A token acting for ``username`` with ``role`` on ``tenant``; shown once."""
        token = "hyg_api_" + secrets.token_urlsafe(32)
        with Session(self.engine) as session, session.begin():
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise AccessError(f"unknown user {username!r}")
            if ROLES.index(role) < ROLES.index(user.role):
                raise AccessError(f"a token cannot have more rights ({role}) than its user ({user.role})")
            if tenant is None and user.role != "admin":
                raise AccessError("only an admin's token may cover every tenant: give --tenant")
            if tenant is not None and user.role != "admin" and session.get(
                    Membership, (user.id, tenant)) is None:
                raise AccessError(f"{username} does not belong to tenant {tenant!r}")
            if tenant is not None and session.get(Tenant, tenant) is None:
                raise AccessError(f"unknown tenant {tenant!r}")
            session.add(ApiToken(token_hash=_sha(token), label=label, user_id=user.id, role=role,
                                 tenant_id=tenant, created=_now()))
            audit.record(session, actor, "token.create", label, tenant, {"user": username, "role": role})
        return token

    def token_principal(self, token: str) -> Principal | None:
        with Session(self.engine) as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha(token),
                                                        ApiToken.revoked.is_(None)))
            if row is None:
                return None
            user_id, role, tenant, label = row.user_id, row.role, row.tenant_id, row.label
        return self.principal(user_id, f"token:{label}", role, tenant)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class AccountAdmin:
    """Changes to accounts and tokens after creation (admins; a user for their own tokens)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def update_user(self, user_id: int, actor: str, *, disabled: bool | None = None,
                    tenants: list[str] | None = None, role: str | None = None) -> bool:
        with Session(self.engine) as session, session.begin():
            user = session.get(User, user_id)
            if user is None:
                return False
            changes: dict[str, object] = {}
            if role is not None and role != user.role:
                if role not in ROLES:
                    raise AccessError(f"role must be one of {', '.join(ROLES)}")
                changes["role"], user.role = role, role
            if tenants is not None:
                for tenant in tenants:
                    if session.get(Tenant, tenant) is None:
                        raise AccessError(f"unknown tenant {tenant!r}")
                session.execute(delete(Membership).where(Membership.user_id == user_id))
                session.add_all([Membership(user_id=user_id, tenant_id=t) for t in sorted(set(tenants))])
                changes["tenants"] = sorted(set(tenants))
            members = tenants if tenants is not None else list(session.scalars(
                select(Membership.tenant_id).where(Membership.user_id == user_id)))
            if user.role != "admin" and not members:
                raise AccessError(f"a {user.role} user needs at least one tenant")
            if user.role == "hospital" and len(members) != 1:
                raise AccessError("a hospital user belongs to exactly one tenant")
            if disabled is not None and disabled != user.disabled:
                changes["disabled"], user.disabled = disabled, disabled
                if disabled:
                    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
            if changes:
                audit.record(session, actor, "user.update", user.username, None, changes)
            return True

    def reset_password(self, user_id: int, actor: str) -> str | None:
        """A new generated password (shown once); ends the user's sessions and unlocks."""
        with Session(self.engine) as session:
            user = session.get(User, user_id)
            username = user.username if user else None
        if username is None:
            return None
        password = generate_password()
        AccessStore(self.engine).set_password(username, password, actor)
        return password

    def tokens(self, user_id: int | None) -> list[tuple[ApiToken, str]]:
        """Tokens with their user's name: of one user, or of everyone (``None``)."""
        with Session(self.engine) as session:
            query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
            if user_id is not None:
                query = query.where(ApiToken.user_id == user_id)
            return [(token, name) for token, name in session.execute(query)]

    def revoke_token(self, token_id: int, owner: int | None, actor: str) -> bool:
        """Revoke a token of ``owner`` (``None``: any, for admins)."""
        with Session(self.engine) as session, session.begin():
            token = session.get(ApiToken, token_id)
            if token is None or (owner is not None and token.user_id != owner):
                return False
            if token.revoked is None:
                token.revoked = _now()
                audit.record(session, actor, "token.revoke", token.label, token.tenant_id, {"token_id": token_id})
            return True

    def token_id(self, token: str) -> int | None:
        with Session(self.engine) as session:
            return session.scalar(select(ApiToken.id).where(ApiToken.token_hash == _sha(token)))

    def username_of(self, user_id: int) -> str | None:
        with Session(self.engine) as session:
            user = session.get(User, user_id)
            return user.username if user else None

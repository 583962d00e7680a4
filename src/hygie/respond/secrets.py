"""Connector secrets, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from ``HYGIE_SECRET_KEY`` or from ``secret.key`` in the data dir, created with
mode 0600 (a key file readable by others is refused). The database holds only ciphertext;
a clear value lives in a ``Secret`` whose ``repr`` and ``str`` are masked, so it cannot end up
in a log line, a traceback's locals summary or an API answer by accident."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.store.state import audit
from hygie.store.state.models_respond import ConnectorSecret

KEY_ENV = "HYGIE_SECRET_KEY"
KEY_FILE = "secret.key"
MASK = "********"


class SecretError(ValueError):
    """A missing or unreadable secret, or an unsafe key file."""


class Secret:
    """A clear secret that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type, tuple[str]]:
        raise TypeError("a Secret is not serialised")


def load_key(data_dir: Path) -> bytes:
    """The Fernet key: from the environment, else the data dir's key file (created 0600)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode()
    path = data_dir / KEY_FILE
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


class SecretStore:
    """Encrypted secrets per tenant in the state database."""

    def __init__(self, engine: Engine, key: bytes) -> None:
        self.engine = engine
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretStore(<key hidden>)"

    def set(self, tenant: str, name: str, value: str, actor: str) -> None:
        if not name or len(name) > 100:
            raise SecretError("a secret needs a name of at most 100 characters")
        token = self._fernet.encrypt(value.encode())
        with Session(self.engine) as session, session.begin():
            row = session.get(ConnectorSecret, (tenant, name))
            now = datetime.now(timezone.utc)
            if row is None:
                session.add(ConnectorSecret(tenant_id=tenant, name=name, ciphertext=token,
                                            updated_by=actor, updated=now))
            else:
                row.ciphertext, row.updated_by, row.updated = token, actor, now
            audit.record(session, actor, "respond.secret.set", f"secret:{name}", tenant)

    def get(self, tenant: str, name: str) -> Secret:
        with Session(self.engine) as session:
            token = session.scalar(select(ConnectorSecret.ciphertext).where(
                ConnectorSecret.tenant_id == tenant, ConnectorSecret.name == name))
        if token is None:
            raise SecretError(f"secret {name!r} is not set for {tenant}")
        try:
            return Secret(self._fernet.decrypt(token).decode())
        except InvalidToken as exc:
            raise SecretError(f"secret {name!r} cannot be decrypted with this key") from exc

    def names(self, tenant: str) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(ConnectorSecret.name).where(
                ConnectorSecret.tenant_id == tenant).order_by(ConnectorSecret.name)))

    def delete(self, tenant: str, name: str, actor: str) -> bool:
        with Session(self.engine) as session, session.begin():
            row = session.get(ConnectorSecret, (tenant, name))
            if row is None:
                return False
            session.delete(row)
            audit.record(session, actor, "respond.secret.delete", f"secret:{name}", tenant)
            return True

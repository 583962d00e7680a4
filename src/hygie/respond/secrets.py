"""Connector secrets, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key and the masked ``Secret`` are ``hygie.core.secrets``' (shared with intel feeds'
credentials). The database holds only ciphertext."""

from __future__ import annotations

from datetime import datetime, timezone

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

# the key, the masked value and its error live in core (intel feeds' credentials use them too)
from hygie.core.secrets import KEY_ENV, KEY_FILE, MASK, Secret, SecretError, load_key
from hygie.respond.connectors import texts
from hygie.store.state import audit
from hygie.store.state.models_respond import ConnectorSecret

__all__ = ["KEY_ENV", "KEY_FILE", "MASK", "Secret", "SecretError", "SecretStore", "load_key"]


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
            raise texts.error(SecretError, "secret.not_set", name=repr(name), tenant=tenant)
        try:
            return Secret(self._fernet.decrypt(token).decode())
        except InvalidToken as exc:
            raise texts.error(SecretError, "secret.undecryptable", name=repr(name)) from exc

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

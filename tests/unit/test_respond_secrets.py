"""Connector secrets: encrypted at rest, key file 0600, never printed."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.respond.secrets import KEY_ENV, Secret, SecretError, SecretStore, load_key
from hygie.respond.settings import SettingsError, section
from hygie.store.state.db import open_database
from hygie.store.state.models_respond import ConnectorSecret
from hygie.store.state.store import StateStore


def test_key_file_and_encryption_at_rest(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = load_key(tmp_path / "data")
    assert stat.S_IMODE((tmp_path / "data" / "secret.key").stat().st_mode) == 0o600
    assert load_key(tmp_path / "data") == key
    engine = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    StateStore(engine).ensure_tenant("chu-nord")
    store = SecretStore(engine, key)
    store.set("chu-nord", "ldap-password", "Tr0ub4dor&3", "admin")
    with Session(engine) as session:
        stored = session.scalar(select(ConnectorSecret.ciphertext))
    assert stored is not None and b"Tr0ub4dor" not in stored
    assert store.get("chu-nord", "ldap-password").reveal() == "Tr0ub4dor&3"
    assert store.names("chu-nord") == ["ldap-password"]
    with pytest.raises(SecretError):
        store.get("chu-sud", "ldap-password")  # secrets are per tenant
    settings = {"defaults": {"ldap": {"url": "ldap://x", "password": {"secret": "ldap-password"}}}, "tenants": {}}
    resolved = section(settings, "chu-nord", "ldap", store)
    assert isinstance(resolved["password"], Secret) and "Tr0ub4dor" not in repr(resolved)
    with pytest.raises(SettingsError):
        section(settings, "chu-nord", "email", store)
    os.chmod(tmp_path / "data" / "secret.key", 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        load_key(tmp_path / "data")
    other = SecretStore(engine, load_key(tmp_path / "other"))
    with pytest.raises(SecretError, match="cannot be decrypted"):
        other.get("chu-nord", "ldap-password")
    assert store.delete("chu-nord", "ldap-password", "admin") and store.names("chu-nord") == []


def test_secret_is_masked() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]} {dict(a=secret)}"
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(secret)

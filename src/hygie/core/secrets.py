"""Secrets at rest, shared by the stages that keep credentials (response connectors, intel
feeds): Fernet (AES-128-CBC + HMAC-SHA256) with one key per installation.

The key comes from ``HYGIE_SECRET_KEY`` or from ``secret.key`` in the data dir, created with
mode 0600 (a key file readable by others is refused). Here in ``core`` so that ``intel`` and
``respond`` use the same key and code without one importing the other. A clear value lives
in a ``Secret`` whose ``repr`` and ``str`` are masked, so it cannot end up in a log line, a
traceback's locals summary or an API answer by accident."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

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
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


class Cipher:
    """Seals a clear text into a token fit for a database column, and opens it again."""

    __slots__ = ("_fernet",)

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def of(cls, data_dir: Path) -> Cipher:
        return cls(load_key(data_dir))

    def __repr__(self) -> str:
        return "Cipher(<key hidden>)"

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def open(self, token: str | bytes, name: str = "secret") -> Secret:
        try:
            return Secret(self._fernet.decrypt(token).decode())
        except InvalidToken as exc:
            raise SecretError(f"{name} cannot be decrypted with this key") from exc

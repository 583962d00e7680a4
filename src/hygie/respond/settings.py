"""Connector settings: a JSON data file, per tenant, with secrets named rather than written.

``{"defaults": {section: {...}}, "tenants": {"chu-nord": {section: {...}}}}``; a tenant's
section is merged over the defaults. A value ``{"secret": "name"}`` is replaced, at the time an
action runs, by the tenant's encrypted secret of that name (see ``secrets``); the file itself
never holds a password. ``connectors.example.json`` next to this module shows every section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hygie.respond.connectors import texts
from hygie.respond.secrets import SecretError, SecretStore

EXAMPLE = Path(__file__).with_name("connectors.example.json")


class SettingsError(ValueError):
    """A settings file that cannot be read, or a section that is not configured."""


def load_settings(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {"defaults": {}, "tenants": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k, {}), dict) for k in ("defaults", "tenants")):
        raise SettingsError(f"{path}: expected an object with 'defaults' and 'tenants'")
    for key in data:
        if key not in ("defaults", "tenants", "_comment"):
            raise SettingsError(f"{path}: unknown key {key!r}")
    return data


def section(settings: dict[str, Any], tenant: str, name: str, secrets: SecretStore | None) -> dict[str, Any]:
    """The settings of connector ``name`` for ``tenant``, with secrets decrypted."""
    merged = dict(settings.get("defaults", {}).get(name, {}))
    merged.update(settings.get("tenants", {}).get(tenant, {}).get(name, {}))
    if not merged:
        raise texts.error(SettingsError, "settings.not_configured", name=repr(name), tenant=tenant)
    return {key: _resolve(value, tenant, secrets) for key, value in merged.items()}


def _resolve(value: Any, tenant: str, secrets: SecretStore | None) -> Any:
    if isinstance(value, dict) and set(value) == {"secret"}:
        if secrets is None:
            raise texts.error(SettingsError, "settings.no_store", name=repr(value["secret"]))
        try:
            return secrets.get(tenant, value["secret"])
        except SecretError as exc:
            raise texts.error(SettingsError, "error", error=texts.error_texts(exc)) from exc
    return value

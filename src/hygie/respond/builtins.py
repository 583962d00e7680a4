"""Hygie's built-in playbook commands (``x-hygie-action`` named ``hygie.*``): they read or
change only the run's own variables, or read Hygie's own inventory, so they need no approval,
touch nothing outside, have nothing to roll back, and run in dry runs too (a dry run goes
through a loop over hosts like the real run). They are what a ``while-condition`` needs to
walk a list:

* ``hygie.shift from=pending_hosts into=current_host``: the first item of the comma-separated
  list variable ``$$pending_hosts$$`` goes into ``$$current_host$$``, the rest stays in the
  list (empty when it was the last);
* ``hygie.criticality host=$$current_host$$ into=host_criticality``: the host's care
  criticality from the tenant's asset inventory (``vital``, ``important``, ``support``;
  ``unknown`` when the host is not inventoried).

Arguments named ``from`` / ``into`` are variable names (without ``$$``), not values; the
loader checks they are declared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hygie.store.state.models_intel import IntelAsset

Summary = dict[str, str]  # {"en": ..., "fr": ...}
Builtin = Callable[[Session, str, dict[str, Any], dict[str, str]], tuple[dict[str, str], Summary]]


class BuiltinError(ValueError):
    """A built-in command that cannot run as written."""


def _var(name: str) -> str:
    return name if name.startswith("$$") else f"$${name}$$"


def shift(session: Session, tenant: str, variables: dict[str, Any],
          args: dict[str, str]) -> tuple[dict[str, str], Summary]:
    source, target = _var(args["from"]), _var(args["into"])
    items = [part.strip() for part in str(variables.get(source) or "").split(",") if part.strip()]
    if not items:
        raise BuiltinError(f"{source} is empty: nothing to take")
    first, rest = items[0], ",".join(items[1:])
    left = len(items) - 1
    return {target: first, source: rest}, {"en": f"{target} = {first} ({left} left)",
                                           "fr": f"{target} = {first} (reste {left})"}


def criticality(session: Session, tenant: str, variables: dict[str, Any],
                args: dict[str, str]) -> tuple[dict[str, str], Summary]:
    host, target = args["host"].strip(), _var(args["into"])
    if not host:
        raise BuiltinError("no host given")
    ranks = {"vital": 0, "important": 1, "support": 2}
    found = session.scalars(select(IntelAsset.criticality).where(
        IntelAsset.tenant_id == tenant, func.lower(IntelAsset.host) == host.lower()))
    levels = sorted(set(found), key=lambda level: ranks.get(level, 3))
    # a host with several inventoried products: its most critical
    level = levels[0] if levels and levels[0] in ranks else "unknown"
    french = {"vital": "vitale", "important": "importante", "support": "support", "unknown": "inconnue"}[level]
    return {target: level}, {"en": f"{host}: {level}", "fr": f"{host} : {french}"}


@dataclass(frozen=True, slots=True)
class BuiltinDef:
    name: str
    function: Builtin
    params: tuple[str, ...]
    names: tuple[str, ...]  # arguments that are variable names, not values


BUILTINS: dict[str, BuiltinDef] = {b.name: b for b in (
    BuiltinDef("hygie.shift", shift, ("from", "into"), ("from", "into")),
    BuiltinDef("hygie.criticality", criticality, ("host", "into"), ("into",)),
)}


def run_builtin(session: Session, tenant: str, variables: dict[str, Any], action: str,
                args: dict[str, str]) -> tuple[dict[str, str], Summary]:
    """(variables to set, summary in both languages); ``BuiltinError`` when it cannot run."""
    definition = BUILTINS.get(action)
    if definition is None:
        raise BuiltinError(f"unknown built-in {action}")
    missing = [p for p in definition.params if not args.get(p)]
    if missing:
        raise BuiltinError(f"{action}: missing argument(s) {', '.join(missing)}")
    return definition.function(session, tenant, variables, args)

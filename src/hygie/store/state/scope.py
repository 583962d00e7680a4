"""The one place where tenant isolation is applied to queries.

Every console and API read goes through ``scoped``: ``tenants`` is the set the principal may
see (``None``: every tenant, for platform admins). A view never writes its own tenant filter."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, false

S = TypeVar("S", bound=Select[Any])
Tenants = frozenset[str] | None


def scoped(query: S, tenant_column: Any, tenants: Tenants) -> S:
    """``query`` restricted to ``tenants`` (an empty set sees nothing)."""
    if tenants is None:
        return query
    if not tenants:
        return query.where(false())
    return query.where(tenant_column.in_(sorted(tenants)))


def visible(tenant_id: str | None, tenants: Tenants) -> bool:
    return tenants is None or (tenant_id is not None and tenant_id in tenants)

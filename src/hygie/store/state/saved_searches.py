"""Saved searches, and the ones that run on a schedule as hunts (every read scoped)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from hygie.store.state import audit
from hygie.store.state.models_cases import SavedSearch
from hygie.store.state.scope import Tenants, scoped


def save(engine: Engine, tenant: str, name: str, query: str, since: str, every_minutes: int | None,
         level: str, actor: str) -> int:
    with Session(engine) as session, session.begin():
        row = SavedSearch(tenant_id=tenant, name=name, query=query, since=since, every_minutes=every_minutes,
                          level=level, created_by=actor, created=datetime.now(timezone.utc))
        session.add(row)
        session.flush()
        audit.record(session, actor, "search.save", f"search:{row.id}", tenant,
                     {"name": name, "query": query, "every_minutes": every_minutes})
        return row.id


def listed(engine: Engine, tenants: Tenants) -> list[SavedSearch]:
    with Session(engine) as session:
        return list(session.scalars(scoped(select(SavedSearch), SavedSearch.tenant_id, tenants)
                                    .order_by(SavedSearch.tenant_id, SavedSearch.name)))


def remove(engine: Engine, tenants: Tenants, search_id: int, actor: str) -> bool:
    with Session(engine) as session, session.begin():
        row = session.scalar(scoped(select(SavedSearch).where(SavedSearch.id == search_id),
                                    SavedSearch.tenant_id, tenants))
        if row is None:
            return False
        session.execute(delete(SavedSearch).where(SavedSearch.id == search_id))
        audit.record(session, actor, "search.delete", f"search:{search_id}", row.tenant_id)
        return True


def scheduled(engine: Engine) -> list[SavedSearch]:
    """Every tenant's scheduled hunts (for the service's own runner, not for a person)."""
    with Session(engine) as session:
        return list(session.scalars(select(SavedSearch).where(SavedSearch.every_minutes.is_not(None))))


def mark_run(engine: Engine, search_id: int, when: datetime) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(SavedSearch, search_id)
        if row is not None:
            row.last_run = when

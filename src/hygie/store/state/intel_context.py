"""An indicator with what an analyst triaging its alert wants next to it: the feed it came
from, how often the caller's hospitals saw it, and whether other hospitals did (anonymised as
``intel_store.shared_warnings`` does: only shared indicators, names only by consent).

Also the paged sighting list of the REST API. Reads are scoped by the caller's tenants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc
from hygie.store.state.intel_store import SharedWarning, own_or_shared, shared_warnings
from hygie.store.state.models_intel import IntelFeed, IntelIndicator, IntelSighting
from hygie.store.state.scope import Tenants, scoped


@dataclass(frozen=True, slots=True)
class IndicatorContext:
    indicator: IntelIndicator
    feed_name: str
    feed_kind: str
    sightings: int  # in the caller's hospitals (every hospital for a platform admin)
    last_sighting: datetime | None
    elsewhere: SharedWarning | None  # shared indicators seen by other hospitals, else None


def indicator_context(engine: Engine, tenants: Tenants, ids: Sequence[int],
                      home: str | None = None) -> list[IndicatorContext]:
    """The indicators among ``ids`` that the caller may read, with their context. "Other
    hospitals" are those outside ``tenants``; for a platform admin (``None``), those other
    than ``home`` (the alert's hospital)."""
    if not ids:
        return []
    with Session(engine, expire_on_commit=False) as session:
        rows = session.execute(own_or_shared(
            select(IntelIndicator, IntelFeed.name, IntelFeed.kind)
            .join(IntelFeed, IntelFeed.id == IntelIndicator.feed_id)
            .where(IntelIndicator.id.in_(sorted(set(ids)))), IntelIndicator.tenant_id, tenants)
            .order_by(IntelIndicator.id)).all()
        found = [r[0].id for r in rows]
        counts = {ident: (count, last) for ident, count, last in session.execute(scoped(
            select(IntelSighting.indicator_id, func.count(), func.max(IntelSighting.seen))
            .where(IntelSighting.indicator_id.in_(found)), IntelSighting.tenant_id, tenants)
            .group_by(IntelSighting.indicator_id))}
    others = tenants if tenants is not None else frozenset({home} if home else ())
    elsewhere = {w.indicator_id: w for w in shared_warnings(engine, others, indicator_ids=found)}
    out = []
    for indicator, name, kind in rows:
        count, last = counts.get(indicator.id, (0, None))
        out.append(IndicatorContext(indicator, name, kind, count, as_utc(last) if last else None,
                                    elsewhere.get(indicator.id)))
    return out


def sighting_page(engine: Engine, tenants: Tenants, limit: int = 50, offset: int = 0,
                  indicator_id: int | None = None, since: datetime | None = None,
                  hide_red: bool = False) -> tuple[list[tuple[IntelSighting, IntelIndicator]], int]:
    """The caller's own sightings, newest first, with their indicators and the total."""
    query = scoped(select(IntelSighting, IntelIndicator).join(
        IntelIndicator, IntelIndicator.id == IntelSighting.indicator_id),
        IntelSighting.tenant_id, tenants)
    if hide_red:
        query = query.where(IntelIndicator.tlp != "red")
    if indicator_id is not None:
        query = query.where(IntelSighting.indicator_id == indicator_id)
    if since is not None:
        query = query.where(IntelSighting.seen >= since)
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = [(s, i) for s, i in session.execute(query.order_by(
            IntelSighting.seen.desc(), IntelSighting.id.desc()).limit(limit).offset(offset))]
    return rows, total

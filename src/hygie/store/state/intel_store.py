"""Threat intelligence in the state store: feeds and their status, indicators (replaced per
feed on each refresh), sightings and the anonymised warnings other tenants see.

Reads for people take the principal's tenants (``scope.Tenants``): a tenant sees its own rows
plus the shared ones (no ``tenant_id``); ``None`` is the platform admin. ``active_indicators``
and ``change_stamp`` serve the detection stage, which matches every tenant's events and
filters each hit by tenant itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as _aware
from hygie.store.state.models_cases import Case, Observable
from hygie.store.state.models_intel import IntelFeed, IntelIndicator, IntelSharing, IntelSighting
from hygie.store.state.scope import Tenants, scoped, visible

FEED_KINDS = ("misp-feed", "misp", "stix", "taxii", "csv", "text")
CHUNK = 5000


class IntelStoreError(ValueError):
    """A change that the caller may not make (a shared feed by a tenant, an unknown kind)."""


class IndicatorLike(Protocol):
    type: str
    value: str
    confidence: int
    tlp: str
    first_seen: datetime | None
    last_seen: datetime | None
    expires: datetime | None
    description: str
    tags: list[str]
    ref: str


@dataclass(frozen=True, slots=True)
class ActiveIndicator:
    """What the matcher compiles: the indicator's identity, owner and context."""

    id: int
    tenant_id: str | None
    type: str
    value: str
    confidence: int
    tlp: str
    expires: datetime | None
    feed_id: int


@dataclass(frozen=True, slots=True)
class Replaced:
    added: int
    updated: int
    removed: int


def own_or_shared(query: Any, column: Any, tenants: Tenants) -> Any:
    """``scoped`` plus the shared rows (no tenant), which every tenant may read."""
    if tenants is None:
        return query
    if not tenants:
        return query.where(column.is_(None))
    return query.where(or_(column.is_(None), column.in_(sorted(tenants))))


def _writable(tenant_id: str | None, tenants: Tenants) -> bool:
    """Shared rows are the platform admin's; a tenant changes only its own."""
    return tenants is None or (tenant_id is not None and visible(tenant_id, tenants))


# -- feeds -------------------------------------------------------------------------------------
def add_feed(engine: Engine, tenants: Tenants, tenant_id: str | None, name: str, kind: str,
             location: str, options: dict[str, Any] | None = None,
             schedule_minutes: int | None = None) -> IntelFeed:
    if kind not in FEED_KINDS:
        raise IntelStoreError(f"feed kind must be one of {', '.join(FEED_KINDS)}")
    if not _writable(tenant_id, tenants):
        raise IntelStoreError("only a platform admin may add a shared feed or another tenant's")
    if schedule_minutes is not None and schedule_minutes < 1:
        raise IntelStoreError("a schedule is a number of minutes, at least 1")
    feed = IntelFeed(tenant_id=tenant_id, name=name[:200], kind=kind, location=location[:2000],
                     options=options or {}, schedule_minutes=schedule_minutes, enabled=True,
                     created=_now(), indicator_count=0, problem_count=0)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(feed)
    return feed


def find_or_add_feed(engine: Engine, tenants: Tenants, tenant_id: str | None, name: str,
                     kind: str, location: str) -> IntelFeed:
    """The feed of that tenant, kind and location (one-off imports reuse theirs)."""
    with Session(engine) as session:
        query = select(IntelFeed).where(IntelFeed.kind == kind, IntelFeed.location == location,
                                        IntelFeed.tenant_id.is_(None) if tenant_id is None
                                        else IntelFeed.tenant_id == tenant_id)
        found = session.scalar(own_or_shared(query, IntelFeed.tenant_id, tenants).limit(1))
    return found or add_feed(engine, tenants, tenant_id, name, kind, location)


def list_feeds(engine: Engine, tenants: Tenants) -> list[IntelFeed]:
    with Session(engine) as session:
        return list(session.scalars(own_or_shared(select(IntelFeed), IntelFeed.tenant_id, tenants)
                                    .order_by(IntelFeed.id)))


def get_feed(engine: Engine, tenants: Tenants, feed_id: int) -> IntelFeed | None:
    with Session(engine) as session:
        return session.scalar(own_or_shared(select(IntelFeed).where(IntelFeed.id == feed_id),
                                            IntelFeed.tenant_id, tenants))


def set_feed_enabled(engine: Engine, tenants: Tenants, feed_id: int, enabled: bool) -> bool:
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None or not _writable(feed.tenant_id, tenants):
            return False
        feed.enabled = enabled
        return True


def due_feeds(engine: Engine, now: datetime | None = None) -> list[IntelFeed]:
    """Enabled feeds with a schedule whose time has come (the service's refresh loop)."""
    now = now or _now()
    with Session(engine) as session:
        feeds = session.scalars(select(IntelFeed).where(IntelFeed.enabled.is_(True),
                                                        IntelFeed.schedule_minutes.is_not(None)))
        return [f for f in feeds if f.last_run is None
                or (now - _aware(f.last_run)).total_seconds() >= 60 * (f.schedule_minutes or 0)]


def record_run(engine: Engine, feed_id: int, error: str | None, problems: int,
               when: datetime | None = None) -> None:
    """The outcome of a refresh: a success updates counts, a failure keeps the indicators."""
    when = when or _now()
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None:
            return
        feed.last_run = when
        feed.last_error = error[:4000] if error else None
        feed.problem_count = problems
        if error is None:
            feed.last_success = when
            feed.indicator_count = session.scalar(select(func.count()).select_from(IntelIndicator)
                                                  .where(IntelIndicator.feed_id == feed_id)) or 0


def note_problems(engine: Engine, feed_id: int, summary: str) -> None:
    """The entries the last run skipped, shown with the feed (its status stays a success)."""
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is not None:
            feed.last_error = f"skipped: {summary}"[:4000]


# -- indicators --------------------------------------------------------------------------------
def replace_indicators(engine: Engine, feed_id: int, indicators: Iterable[IndicatorLike],
                       complete: bool = True, now: datetime | None = None) -> Replaced:
    """Make the feed's indicators those given (``complete``: the ones not given are removed;
    otherwise only added or updated). An indicator seen before keeps its first_seen."""
    now = now or _now()
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None:
            raise IntelStoreError(f"no feed {feed_id}")
        tenant_id = feed.tenant_id
        known = {(kind, value): ident for ident, kind, value in session.execute(
            select(IntelIndicator.id, IntelIndicator.type, IntelIndicator.value)
            .where(IntelIndicator.feed_id == feed_id))}
        fresh: dict[tuple[str, str], dict[str, Any]] = {}
        for ind in indicators:
            fresh[(ind.type, ind.value)] = {
                "type": ind.type, "value": ind.value, "confidence": ind.confidence, "tlp": ind.tlp,
                "first_seen": ind.first_seen or now, "last_seen": ind.last_seen or now,
                "expires": ind.expires, "description": ind.description, "tags": list(ind.tags),
                "ref": ind.ref, "updated": now}
        new = [row | {"feed_id": feed_id, "tenant_id": tenant_id}
               for key, row in fresh.items() if key not in known]
        changed = [{"ident": known[key], **{k: v for k, v in row.items()
                                             if k not in ("type", "value", "first_seen")}}
                   for key, row in fresh.items() if key in known]
        gone = [ident for key, ident in known.items() if key not in fresh] if complete else []
        table = IntelIndicator.__table__
        for start in range(0, len(new), CHUNK):
            session.execute(insert(table), new[start:start + CHUNK])
        if changed:
            columns = ("confidence", "tlp", "last_seen", "expires", "description", "tags", "ref",
                       "updated")
            statement = update(table).where(table.c.id == bindparam("ident")).values(
                {c: bindparam(c) for c in columns})
            for start in range(0, len(changed), CHUNK):
                session.execute(statement, changed[start:start + CHUNK])
        for start in range(0, len(gone), CHUNK):
            session.execute(delete(table).where(table.c.id.in_(gone[start:start + CHUNK])))
    return Replaced(len(new), len(changed), len(gone))


def active_indicators(engine: Engine, now: datetime | None = None) -> Iterator[ActiveIndicator]:
    """Every unexpired indicator of an enabled feed, all tenants (the detection stage's read)."""
    now = now or _now()
    query = (select(IntelIndicator.id, IntelIndicator.tenant_id, IntelIndicator.type,
                    IntelIndicator.value, IntelIndicator.confidence, IntelIndicator.tlp,
                    IntelIndicator.expires, IntelIndicator.feed_id)
             .join(IntelFeed, IntelFeed.id == IntelIndicator.feed_id)
             .where(IntelFeed.enabled.is_(True),
                    or_(IntelIndicator.expires.is_(None), IntelIndicator.expires > now)))
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=CHUNK).execute(query)
        for row in result:
            yield ActiveIndicator(row[0], row[1], row[2], row[3], row[4], row[5],
                                  _aware(row[6]) if row[6] else None, row[7])


def change_stamp(engine: Engine) -> tuple[Any, ...]:
    """Cheap to read; differs whenever the active set may have changed (rows added, updated or
    removed, a feed switched). Expiry needs no stamp: the matcher checks it at each hit."""
    with Session(engine) as session:
        count, latest = session.execute(select(func.count(), func.max(IntelIndicator.updated))).one()
        feeds = tuple(session.scalars(select(IntelFeed.id).where(IntelFeed.enabled.is_(True))
                                      .order_by(IntelFeed.id)))
    return count, str(latest), feeds


def search_indicators(engine: Engine, tenants: Tenants, text: str | None = None,
                      kind: str | None = None, limit: int = 100, offset: int = 0
                      ) -> tuple[list[IntelIndicator], int]:
    query = own_or_shared(select(IntelIndicator), IntelIndicator.tenant_id, tenants)
    if kind:
        query = query.where(IntelIndicator.type == kind)
    if text:
        query = query.where(IntelIndicator.value.contains(text.lower(), autoescape=True))
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(session.scalars(query.order_by(IntelIndicator.id).limit(limit).offset(offset)))
    return rows, total


def get_indicators(engine: Engine, tenants: Tenants, ids: Sequence[int]) -> list[IntelIndicator]:
    with Session(engine) as session:
        return list(session.scalars(own_or_shared(
            select(IntelIndicator).where(IntelIndicator.id.in_(list(ids))),
            IntelIndicator.tenant_id, tenants)))


def expire_indicator(engine: Engine, tenants: Tenants, indicator_id: int,
                     when: datetime | None = None) -> bool:
    """Stop an indicator matching now (it stays listed, with its expiry)."""
    when = when or _now()
    with Session(engine) as session, session.begin():
        row = session.get(IntelIndicator, indicator_id)
        if row is None or not _writable(row.tenant_id, tenants):
            return False
        row.expires, row.updated = when, max(_now(), _aware(row.updated))
        return True


# -- sightings and sharing ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewSighting:
    indicator_id: int
    tenant_id: str
    record_key: str
    field: str
    seen: datetime


def record_sightings(engine: Engine, sightings: Sequence[NewSighting]) -> int:
    """Store sightings once each (a redelivered record adds nothing); returns how many were
    new. Each is anonymised unless its tenant agreed to be named."""
    if not sightings:
        return 0
    with Session(engine) as session, session.begin():
        tenants = sorted({s.tenant_id for s in sightings})
        named = set(session.scalars(select(IntelSharing.tenant_id).where(
            IntelSharing.tenant_id.in_(tenants), IntelSharing.named.is_(True))))
        existing = {tuple(r) for r in session.execute(select(
            IntelSighting.indicator_id, IntelSighting.tenant_id, IntelSighting.record_key).where(
            IntelSighting.record_key.in_(sorted({s.record_key for s in sightings}))))}
        live = set(session.scalars(select(IntelIndicator.id).where(
            IntelIndicator.id.in_(sorted({s.indicator_id for s in sightings})))))
        added = 0
        for s in sightings:
            key = (s.indicator_id, s.tenant_id, s.record_key)
            if key in existing or s.indicator_id not in live:  # removed by a refresh meanwhile
                continue
            existing.add(key)
            session.add(IntelSighting(indicator_id=s.indicator_id, tenant_id=s.tenant_id,
                                      record_key=s.record_key, field=s.field[:200], seen=s.seen,
                                      anonymised=s.tenant_id not in named))
            added += 1
    return added


def sightings(engine: Engine, tenants: Tenants, limit: int = 100) -> list[tuple[IntelSighting, IntelIndicator]]:
    """The tenants' own sightings, newest first, with their indicators."""
    with Session(engine) as session:
        query = scoped(select(IntelSighting, IntelIndicator).join(
            IntelIndicator, IntelIndicator.id == IntelSighting.indicator_id),
            IntelSighting.tenant_id, tenants)
        return [tuple(r) for r in session.execute(query.order_by(IntelSighting.seen.desc(),
                                                                 IntelSighting.id.desc()).limit(limit))]


@dataclass(frozen=True, slots=True)
class SharedWarning:
    """Shared indicators seen by other tenants: how many, when last, and only those that agreed
    to be named."""

    indicator_id: int
    type: str
    value: str
    tenants: int
    sightings: int
    last_seen: datetime
    named: tuple[str, ...]


def shared_warnings(engine: Engine, tenants: Tenants, since: datetime | None = None,
                    limit: int = 100) -> list[SharedWarning]:
    """Sightings of shared indicators in tenants other than ``tenants``. Only shared
    indicators: a tenant's own indicators, and what they reveal, stay its own."""
    query = (select(IntelSighting.indicator_id, IntelIndicator.type, IntelIndicator.value,
                    IntelSighting.tenant_id, IntelSighting.anonymised, IntelSighting.seen)
             .join(IntelIndicator, IntelIndicator.id == IntelSighting.indicator_id)
             .where(IntelIndicator.tenant_id.is_(None)))
    if tenants:  # None (the platform admin) and an empty set: every tenant's sightings
        query = query.where(IntelSighting.tenant_id.not_in(sorted(tenants)))
    if since is not None:
        query = query.where(IntelSighting.seen >= since)
    grouped: dict[int, dict[str, Any]] = {}
    with Session(engine) as session:
        for ident, kind, value, tenant, anonymised, seen in session.execute(query):
            entry = grouped.setdefault(ident, {"type": kind, "value": value, "tenants": set(),
                                               "count": 0, "last": seen, "named": set()})
            entry["tenants"].add(tenant)
            entry["count"] += 1
            entry["last"] = max(entry["last"], seen)
            if not anonymised:
                entry["named"].add(tenant)
    out = [SharedWarning(i, e["type"], e["value"], len(e["tenants"]), e["count"], _aware(e["last"]),
                         tuple(sorted(e["named"]))) for i, e in grouped.items()]
    return sorted(out, key=lambda w: w.last_seen, reverse=True)[:limit]


def set_named(engine: Engine, tenants: Tenants, tenant_id: str, named: bool) -> None:
    """A tenant's consent to be named in the warnings other tenants see (future sightings)."""
    if not _writable(tenant_id, tenants):
        raise IntelStoreError("a tenant's consent is its own to give")
    with Session(engine) as session, session.begin():
        row = session.get(IntelSharing, tenant_id)
        if row is None:
            session.add(IntelSharing(tenant_id=tenant_id, named=named, updated=_now()))
        else:
            row.named, row.updated = named, _now()


# -- cases' observables (sharing out) -----------------------------------------------------------
def case_observables(engine: Engine, tenants: Tenants, case_id: int
                     ) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(tenant, case title, [(kind, value)]) of a case the principal may see, else None."""
    with Session(engine) as session:
        case = session.scalar(scoped(select(Case).where(Case.id == case_id), Case.tenant_id, tenants))
        if case is None:
            return None
        rows = session.execute(scoped(select(Observable.kind, Observable.value).where(
            Observable.case_id == case_id), Observable.tenant_id, tenants).order_by(Observable.id))
        return case.tenant_id, case.title, [(kind, value) for kind, value in rows]


def _now() -> datetime:
    return datetime.now(timezone.utc)

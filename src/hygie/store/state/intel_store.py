"""Threat intelligence in the state store: feeds and their status, indicators (replaced per
feed on each refresh), sightings and the anonymised warnings other tenants see.

Reads for people take the principal's tenants (``scope.Tenants``): a tenant sees its own rows
plus the shared ones (no ``tenant_id``); ``None`` is the platform admin. ``active_indicators``
and ``change_stamp`` serve the detection stage, which matches every tenant's events and
filters each hit by tenant itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as _aware
from hygie.store.state import audit
from hygie.store.state.models_cases import Case, Observable
from hygie.store.state.models_intel import IntelFeed, IntelIndicator, IntelSharing, IntelSighting
from hygie.store.state.scope import Tenants, scoped, visible

FEED_KINDS = ("misp-feed", "misp", "stix", "taxii", "csv", "text", "manual")
MANUAL_LOCATION = "console"  # the feed of indicators analysts add by hand (one per tenant)
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
             schedule_minutes: int | None = None, credential: str | None = None,
             actor: str | None = None) -> IntelFeed:
    """``credential``: ciphertext only (``core.secrets.Cipher.seal``); ``actor``: audited."""
    if kind not in FEED_KINDS:
        raise IntelStoreError(f"feed kind must be one of {', '.join(FEED_KINDS)}")
    if not _writable(tenant_id, tenants):
        raise IntelStoreError("only a platform admin may add a shared feed or another tenant's")
    if schedule_minutes is not None and schedule_minutes < 1:
        raise IntelStoreError("a schedule is a number of minutes, at least 1")
    feed = IntelFeed(tenant_id=tenant_id, name=name[:200], kind=kind, location=location[:2000],
                     options=options or {}, schedule_minutes=schedule_minutes, enabled=True,
                     created=_now(), indicator_count=0, problem_count=0, credential=credential)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(feed)
        if actor is not None:
            session.flush()
            audit.record(session, actor, "intel.feed.add", f"feed:{feed.id}", tenant_id,
                         {"name": feed.name, "kind": kind, "location": feed.location,
                          "schedule_minutes": schedule_minutes, "credential": credential is not None})
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


def set_feed_enabled(engine: Engine, tenants: Tenants, feed_id: int, enabled: bool,
                     actor: str | None = None) -> bool:
    """A disabled feed's indicators stop matching and it is no longer refreshed."""
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None or not _writable(feed.tenant_id, tenants):
            return False
        feed.enabled = enabled
        if actor is not None:
            audit.record(session, actor, "intel.feed.enable" if enabled else "intel.feed.disable",
                         f"feed:{feed_id}", feed.tenant_id, {"name": feed.name})
        return True


FEED_EDITABLE = ("name", "location", "schedule_minutes", "options")


def update_feed(engine: Engine, tenants: Tenants, feed_id: int, changes: dict[str, Any], actor: str,
                shown: Callable[[str], str] = str) -> IntelFeed | None:
    """Change a feed's definition (``FEED_EDITABLE`` and ``credential``, ciphertext; checked by
    the caller); None when the caller may not. Audited with each change before and after
    (``shown`` masks a location's password, options by key; a credential is only said to be
    replaced). A new location forgets the TAXII cursor: it belonged to another collection."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None or not _writable(feed.tenant_id, tenants):
            return None
        changed: dict[str, Any] = {}
        for name in FEED_EDITABLE:
            if name in changes and changes[name] != getattr(feed, name):
                before, after = getattr(feed, name), changes[name]
                if name == "options":  # by key: the options left alone (a CLI secret) stay out of the log
                    before = before or {}
                    changed[name] = {k: [before.get(k), after.get(k)] for k in sorted({*before, *after})
                                     if before.get(k) != after.get(k)}
                else:
                    changed[name] = [shown(before), shown(after)] if name == "location" else [before, after]
                setattr(feed, name, after)
        if changes.get("credential"):
            feed.credential = changes["credential"]
            changed["credential"] = "replaced"
        if "location" in changed:
            feed.cursor = None
        if changed:
            audit.record(session, actor, "intel.feed.update", f"feed:{feed_id}", feed.tenant_id,
                         {"name": feed.name, "changed": changed})
        return feed


def remove_feed(engine: Engine, tenants: Tenants, feed_id: int, actor: str) -> bool:
    """The feed, its indicators and their sightings, gone (audited)."""
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None or not _writable(feed.tenant_id, tenants):
            return False
        owned = select(IntelIndicator.id).where(IntelIndicator.feed_id == feed_id).scalar_subquery()
        session.execute(delete(IntelSighting).where(IntelSighting.indicator_id.in_(owned)))
        session.execute(delete(IntelIndicator).where(IntelIndicator.feed_id == feed_id))
        audit.record(session, actor, "intel.feed.remove", f"feed:{feed_id}", feed.tenant_id,
                     {"name": feed.name, "kind": feed.kind, "indicators": feed.indicator_count})
        session.delete(feed)
        return True


def set_cursor(engine: Engine, feed_id: int, cursor: str | None) -> None:
    """Where the feed's next incremental poll starts (TAXII ``added_after``)."""
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is not None:
            feed.cursor = cursor[:64] if cursor else None


def note_refresh(engine: Engine, tenants: Tenants, feed_id: int, actor: str) -> bool:
    """A refresh asked for by a person (the audit log says who and when)."""
    with Session(engine) as session, session.begin():
        feed = session.get(IntelFeed, feed_id)
        if feed is None or not _writable(feed.tenant_id, tenants):
            return False
        audit.record(session, actor, "intel.feed.refresh", f"feed:{feed_id}", feed.tenant_id,
                     {"name": feed.name})
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
        _record_run(session, feed, error, problems, when)


def _record_run(session: Session, feed: IntelFeed, error: str | None, problems: int,
                when: datetime) -> None:
    feed.last_run = when
    feed.last_error = error[:4000] if error else None
    feed.problem_count = problems
    if error is None:
        feed.last_success = when
        session.flush()
        feed.indicator_count = session.scalar(select(func.count()).select_from(IntelIndicator)
                                              .where(IntelIndicator.feed_id == feed.id)) or 0


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
                      kind: str | None = None, limit: int = 100, offset: int = 0,
                      feed_id: int | None = None, active: bool | None = None,
                      now: datetime | None = None, hide_red: bool = False
                      ) -> tuple[list[IntelIndicator], int]:
    """Newest first; ``active``: only unexpired (True) or only expired (False) ones;
    ``hide_red``: without TLP:RED ones (roles that may not read them)."""
    query = own_or_shared(select(IntelIndicator), IntelIndicator.tenant_id, tenants)
    if hide_red:
        query = query.where(IntelIndicator.tlp != "red")
    if kind:
        query = query.where(IntelIndicator.type == kind)
    if text:
        query = query.where(func.lower(IntelIndicator.value).contains(text.lower(), autoescape=True))
    if feed_id is not None:
        query = query.where(IntelIndicator.feed_id == feed_id)
    if active is not None:
        unexpired = or_(IntelIndicator.expires.is_(None), IntelIndicator.expires > (now or _now()))
        query = query.where(unexpired if active else ~unexpired)
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(session.scalars(query.order_by(IntelIndicator.id.desc()).limit(limit).offset(offset)))
    return rows, total


def manual_feed(engine: Engine, tenants: Tenants, tenant_id: str | None) -> IntelFeed:
    """The feed holding the indicators people add by hand for ``tenant_id`` (None: shared)."""
    return find_or_add_feed(engine, tenants, tenant_id, "Added by hand" if tenant_id is None
                            else f"Added by hand ({tenant_id})", "manual", MANUAL_LOCATION)


def add_indicator(engine: Engine, tenants: Tenants, tenant_id: str | None, indicator: IndicatorLike,
                  actor: str, now: datetime | None = None) -> IntelIndicator:
    """An indicator added by a person (``checked`` first) to the hand feed of ``tenant_id``;
    the same value again updates it and makes it match again. Audited."""
    if not _writable(tenant_id, tenants):
        raise IntelStoreError("only a platform admin may add a shared indicator or another tenant's")
    feed = manual_feed(engine, tenants, tenant_id)
    now = now or _now()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.scalar(select(IntelIndicator).where(
            IntelIndicator.feed_id == feed.id, IntelIndicator.type == indicator.type,
            IntelIndicator.value == indicator.value))
        if row is None:
            row = IntelIndicator(feed_id=feed.id, tenant_id=tenant_id, type=indicator.type,
                                 value=indicator.value, first_seen=indicator.first_seen or now)
            session.add(row)
        row.confidence, row.tlp, row.expires = indicator.confidence, indicator.tlp, indicator.expires
        row.description, row.tags = indicator.description, list(indicator.tags)
        row.ref, row.last_seen = indicator.ref or f"added by {actor}"[:200], now
        row.updated = now if row.updated is None else max(now, _aware(row.updated))  # the stamp moves
        session.flush()
        audit.record(session, actor, "intel.indicator.add", f"indicator:{row.id}", tenant_id,
                     {"type": row.type, "value": row.value, "tlp": row.tlp,
                      "confidence": row.confidence, "expires": row.expires})
        stored = session.get(IntelFeed, feed.id)
        if stored is not None:
            _record_run(session, stored, None, 0, now)
    return row


def remove_refs(engine: Engine, feed_id: int, refs: Sequence[str]) -> int:
    """Remove the feed's indicators whose source id is in ``refs`` (revoked STIX objects)."""
    if not refs:
        return 0
    removed = 0
    with Session(engine) as session, session.begin():
        for start in range(0, len(refs), CHUNK):
            removed += session.execute(delete(IntelIndicator).where(
                IntelIndicator.feed_id == feed_id,
                IntelIndicator.ref.in_(list(refs[start:start + CHUNK])))).rowcount or 0
    return removed


def get_indicators(engine: Engine, tenants: Tenants, ids: Sequence[int]) -> list[IntelIndicator]:
    with Session(engine) as session:
        return list(session.scalars(own_or_shared(
            select(IntelIndicator).where(IntelIndicator.id.in_(list(ids))),
            IntelIndicator.tenant_id, tenants)))


def expire_indicator(engine: Engine, tenants: Tenants, indicator_id: int,
                     when: datetime | None = None, actor: str | None = None) -> bool:
    """Stop an indicator matching now (it stays listed, with its expiry); ``actor``: audited."""
    when = when or _now()
    with Session(engine) as session, session.begin():
        row = session.get(IntelIndicator, indicator_id)
        if row is None or not _writable(row.tenant_id, tenants):
            return False
        row.expires, row.updated = when, max(_now(), _aware(row.updated))
        if actor is not None:
            audit.record(session, actor, "intel.indicator.expire", f"indicator:{indicator_id}",
                         row.tenant_id, {"type": row.type, "value": row.value})
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
                    limit: int = 100, indicator_ids: Sequence[int] | None = None,
                    hide_red: bool = False) -> list[SharedWarning]:
    """Sightings of shared indicators in tenants other than ``tenants``. Only shared
    indicators: a tenant's own indicators, and what they reveal, stay its own."""
    query = (select(IntelSighting.indicator_id, IntelIndicator.type, IntelIndicator.value,
                    IntelSighting.tenant_id, IntelSighting.anonymised, IntelSighting.seen)
             .join(IntelIndicator, IntelIndicator.id == IntelSighting.indicator_id)
             .where(IntelIndicator.tenant_id.is_(None)))
    if hide_red:
        query = query.where(IntelIndicator.tlp != "red")
    if indicator_ids is not None:
        query = query.where(IntelSighting.indicator_id.in_(list(indicator_ids)))
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

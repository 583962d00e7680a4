"""Operations on the state store: tenants, ingest tokens, alerts (idempotent), quarantine.

Every read takes a tenant (or an explicit list of tenants): there is no query here that could
return another hospital's rows by forgetting a filter.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from hygie.core.alert import Alert
from hygie.store.state.rule_settings import DisabledRules
from hygie.store.state.models import AlertKey, AlertRow, IngestToken, QuarantinedRecord, Tenant

GROUP_WINDOW = timedelta(minutes=10)  # repeats of a rule on a host within it join one alert


@dataclass(slots=True)
class RecordResult:
    """What the pipeline made of one record: its event and alerts, or why it was quarantined.

    ``event`` (the normalised fields), ``event_time`` and ``host`` are set for every parsed
    record: the event store keeps them all, the alert store only those of records with alerts."""

    tenant: str
    record_key: str
    source: str
    kind: str
    received: float
    alerts: list[Alert] = field(default_factory=list)
    event: dict[str, Any] | None = None
    event_time: str | None = None
    host: str | None = None
    quarantine_reason: str | None = None
    payload: bytes = b""  # the record as received (for quarantine, its first 256 KiB)


def alert_key(tenant: str, record_key: str, alert: Alert) -> str:
    """Deterministic: the same rule on the same record of the same tenant, the same key."""
    text = "\0".join((tenant, alert.rule_id, alert.kind, record_key, str(alert.offset)))
    return hashlib.sha256(text.encode()).hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rule_switches = DisabledRules(engine)

    # -- tenants and tokens ----------------------------------------------------------------------
    def ensure_tenant(self, tenant_id: str, name: str | None = None) -> None:
        with Session(self.engine) as session, session.begin():
            if session.get(Tenant, tenant_id) is None:
                session.add(Tenant(id=tenant_id, name=name or tenant_id, created=_now()))

    def tenants(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))

    def create_ingest_token(self, tenant_id: str, label: str = "") -> str:
        """A new token for ``tenant_id``; shown once, kept only as a hash."""
        token = "hyg_" + secrets.token_urlsafe(32)
        with Session(self.engine) as session, session.begin():
            if session.get(Tenant, tenant_id) is None:
                raise KeyError(f"unknown tenant {tenant_id!r}")
            session.add(IngestToken(tenant_id=tenant_id, token_hash=hash_token(token),
                                    label=label, created=_now()))
        return token

    def tenant_for_token(self, token: str) -> str | None:
        with Session(self.engine) as session:
            row = session.scalar(select(IngestToken).where(
                IngestToken.token_hash == hash_token(token), IngestToken.revoked.is_(None)))
            return row.tenant_id if row else None

    # -- results of the pipeline -----------------------------------------------------------------
    def store_results(self, results: Sequence[RecordResult]) -> tuple[int, int]:
        """Store a batch in one transaction: new alerts, repeats grouped, quarantined records.

        Idempotent: a result whose keys are already stored adds nothing, so a batch delivered
        again after a crash changes nothing. Returns (alerts created, alerts grouped)."""
        created = grouped = 0
        now = _now()
        with Session(self.engine) as session, session.begin():
            allows = self.rule_switches.allows  # rules a tenant switched off store nothing there
            keys = {alert_key(r.tenant, r.record_key, a): (r, a) for r in results for a in r.alerts
                    if allows(r.tenant, a.rule_id, a.pack)}
            known = set()
            ordered = list(keys)
            for start in range(0, len(ordered), 500):
                chunk = ordered[start:start + 500]
                known.update(session.scalars(select(AlertKey.key).where(AlertKey.key.in_(chunk))))
            fresh = {key: pair for key, pair in keys.items() if key not in known}
            # open alerts are read as ids only (their JSON columns can be large), and repeats
            # are counted with one UPDATE per alert, whatever the batch holds
            groups: dict[tuple[str, str, str | None], int | AlertRow] = dict(
                self._open_groups(session, fresh.values(), now))
            repeats: dict[int, int] = {}
            owners: list[tuple[str, str, int | AlertRow]] = []
            for key, (result, alert) in fresh.items():
                group = None if alert.kind == "correlation" else (result.tenant, alert.rule_id, alert.host)
                owner = groups.get(group) if group else None
                if owner is None:
                    owner = _new_alert(result, alert, now)
                    session.add(owner)
                    created += 1
                    if group:
                        groups[group] = owner
                elif isinstance(owner, AlertRow):  # created in this batch
                    owner.count += 1
                    grouped += 1
                else:
                    repeats[owner] = repeats.get(owner, 0) + 1
                    grouped += 1
                owners.append((key, result.tenant, owner))
            session.flush()  # one multi-row insert; gives the new alerts their ids
            if repeats:
                table = AlertRow.__table__
                session.execute(
                    update(table).where(table.c.id == bindparam("alert_id"))
                    .values(count=table.c.count + bindparam("more"), last_seen=bindparam("now")),
                    [{"alert_id": alert_id, "more": n, "now": now} for alert_id, n in repeats.items()])
            if owners:  # plain rows, one multi-row insert: no ORM objects to track
                session.execute(insert(AlertKey.__table__), [
                    {"key": key, "tenant_id": tenant,
                     "alert_id": owner.id if isinstance(owner, AlertRow) else owner}
                    for key, tenant, owner in owners])
            quarantined = [r for r in results if r.quarantine_reason is not None]
            if quarantined:
                seen = set(session.scalars(select(QuarantinedRecord.record_key).where(
                    QuarantinedRecord.record_key.in_([r.record_key for r in quarantined]))))
                for result in quarantined:
                    if result.record_key not in seen:
                        seen.add(result.record_key)
                        session.add(QuarantinedRecord(
                            tenant_id=result.tenant, record_key=result.record_key,
                            source=result.source, kind=result.kind,
                            reason=result.quarantine_reason or "", payload=result.payload,
                            received=datetime.fromtimestamp(result.received, timezone.utc)))
        return created, grouped

    @staticmethod
    def _open_groups(session: Session, pairs: Iterable[tuple[RecordResult, Alert]],
                     now: datetime) -> dict[tuple[str, str, str | None], int]:
        """The open alert (status new, seen within the window) of each (tenant, rule, host)
        the batch touches, read in a few queries rather than one per alert. A correlation
        alert stands for many events already and never groups."""
        wanted = {(r.tenant, a.rule_id, a.host) for r, a in pairs if a.kind != "correlation"}
        found: dict[tuple[str, str, str | None], int] = {}
        by_tenant: dict[str, set[str]] = {}
        for tenant, rule_id, _host in wanted:
            by_tenant.setdefault(tenant, set()).add(rule_id)
        for tenant, rule_ids in by_tenant.items():
            ordered = sorted(rule_ids)
            for start in range(0, len(ordered), 500):
                rows = session.execute(select(AlertRow.id, AlertRow.rule_id, AlertRow.host).where(
                    AlertRow.tenant_id == tenant, AlertRow.rule_id.in_(ordered[start:start + 500]),
                    AlertRow.status == "new", AlertRow.last_seen >= now - GROUP_WINDOW)
                    .order_by(AlertRow.id))
                for alert_id, rule_id, host in rows:  # ascending: the newest open alert wins
                    group = (tenant, rule_id, host)
                    if group in wanted:
                        found[group] = alert_id
        return found

    # -- reads (always for named tenants) --------------------------------------------------------
    def alerts(self, tenants: Iterable[str], limit: int = 100) -> list[AlertRow]:
        with Session(self.engine) as session:
            rows = session.scalars(select(AlertRow).where(AlertRow.tenant_id.in_(list(tenants)))
                                   .order_by(AlertRow.id.desc()).limit(limit))
            return list(rows)

    def alert_count(self, tenants: Iterable[str]) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(AlertRow).where(
                AlertRow.tenant_id.in_(list(tenants)))) or 0

    def quarantine(self, tenants: Iterable[str], limit: int = 100) -> list[QuarantinedRecord]:
        with Session(self.engine) as session:
            return list(session.scalars(select(QuarantinedRecord).where(
                QuarantinedRecord.tenant_id.in_(list(tenants)))
                .order_by(QuarantinedRecord.id.desc()).limit(limit)))


def _new_alert(result: RecordResult, alert: Alert, now: datetime) -> AlertRow:
    return AlertRow(tenant_id=result.tenant, rule_id=alert.rule_id, title=alert.title,
                    level=alert.level, tags=list(alert.tags), pack=alert.pack, kind=alert.kind,
                    host=alert.host, source=result.source, event_time=alert.time,
                    first_seen=now, last_seen=now, count=1, status="new",
                    matched=_jsonable(alert.matched),
                    event=_jsonable(result.event or {}) | _raw_form(result.payload))


RAW_KEPT = 64 * 1024  # of the record as received, kept on its alert for the analyst


def _raw_form(payload: bytes) -> dict[str, str]:
    return {"_raw": payload[:RAW_KEPT].decode("utf-8", "replace")} if payload else {}


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        out[name] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
    return out


def _now() -> datetime:
    return datetime.now(timezone.utc)

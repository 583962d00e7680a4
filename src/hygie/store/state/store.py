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

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hygie.core.alert import Alert
from hygie.store.state.models import AlertKey, AlertRow, IngestToken, QuarantinedRecord, Tenant

GROUP_WINDOW = timedelta(minutes=10)  # repeats of a rule on a host within it join one alert


@dataclass(slots=True)
class RecordResult:
    """What the pipeline made of one record: its alerts, or why it was quarantined."""

    tenant: str
    record_key: str
    source: str
    kind: str
    received: float
    alerts: list[Alert] = field(default_factory=list)
    event: dict[str, Any] | None = None
    quarantine_reason: str | None = None
    payload: bytes = b""


def alert_key(tenant: str, record_key: str, alert: Alert) -> str:
    """Deterministic: the same rule on the same record of the same tenant, the same key."""
    text = "\0".join((tenant, alert.rule_id, alert.kind, record_key, str(alert.offset)))
    return hashlib.sha256(text.encode()).hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        with Session(self.engine) as session, session.begin():
            keys = {alert_key(r.tenant, r.record_key, a): (r, a) for r in results for a in r.alerts}
            known = set()
            ordered = list(keys)
            for start in range(0, len(ordered), 500):
                chunk = ordered[start:start + 500]
                known.update(session.scalars(select(AlertKey.key).where(AlertKey.key.in_(chunk))))
            for key, (result, alert) in keys.items():
                if key in known:
                    continue
                row = self._open_group(session, result.tenant, alert)
                if row is None:
                    row = _new_alert(result, alert)
                    session.add(row)
                    session.flush()
                    created += 1
                else:
                    row.count += 1
                    row.last_seen = _now()
                    grouped += 1
                session.add(AlertKey(key=key, alert_id=row.id, tenant_id=result.tenant))
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
    def _open_group(session: Session, tenant: str, alert: Alert) -> AlertRow | None:
        if alert.kind == "correlation":
            return None  # a correlation alert already stands for many events
        return session.scalar(
            select(AlertRow).where(
                AlertRow.tenant_id == tenant, AlertRow.rule_id == alert.rule_id,
                AlertRow.host == alert.host, AlertRow.status == "new",
                AlertRow.last_seen >= _now() - GROUP_WINDOW)
            .order_by(AlertRow.id.desc()).limit(1))

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


def _new_alert(result: RecordResult, alert: Alert) -> AlertRow:
    now = _now()
    return AlertRow(tenant_id=result.tenant, rule_id=alert.rule_id, title=alert.title,
                    level=alert.level, tags=list(alert.tags), pack=alert.pack, kind=alert.kind,
                    host=alert.host, source=result.source, event_time=alert.time,
                    first_seen=now, last_seen=now, count=1, status="new",
                    matched=_jsonable(alert.matched), event=_jsonable(result.event or {}))


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        out[name] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
    return out


def _now() -> datetime:
    return datetime.now(timezone.utc)

"""Appending to and verifying the hash-chained audit log (see ``models_audit``).

An entry's hash is SHA-256 over the previous hash and a canonical JSON of its content, so
``verify`` finds the first entry that was edited, removed or inserted out of order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as _utc
from hygie.store.state.models_audit import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_hash(prev_hash: str, seq: int, created: datetime, tenant_id: str | None, actor: str,
               action: str, target: str, detail: dict[str, Any]) -> str:
    content = orjson.dumps({"seq": seq, "created": int(_utc(created).timestamp() * 1_000_000),
                            "tenant": tenant_id, "actor": actor, "action": action,
                            "target": target, "detail": detail}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + content).hexdigest()


def record(session: Session, actor: str, action: str, target: str = "", tenant_id: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append an entry inside the caller's transaction: the audited change and its entry are
    committed together or not at all."""
    detail = orjson.loads(orjson.dumps(detail or {}, default=str))  # JSON-native, as stored
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    seq, prev = int(head.seq), head.hash
    created = datetime.now(timezone.utc)
    digest = entry_hash(prev, seq, created, tenant_id, actor, action, target, detail)
    entry = AuditEntry(seq=seq, created=created, tenant_id=tenant_id, actor=actor, action=action,
                       target=target, detail=detail, prev_hash=prev, hash=digest)
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    return entry


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify(engine: Engine, batch: int = 5000) -> ChainReport:
    """Walk the whole chain; stop at the first entry whose hash or link is wrong."""
    prev, expected_seq, count = GENESIS, 1, 0
    with Session(engine) as session:
        for entry in _entries(session, batch):
            if entry.seq != expected_seq:
                return ChainReport(count, expected_seq, f"entry {expected_seq} is missing")
            if entry.prev_hash != prev:
                return ChainReport(count, entry.seq, "link to the previous entry is broken")
            digest = entry_hash(prev, entry.seq, entry.created, entry.tenant_id, entry.actor,
                                entry.action, entry.target, entry.detail or {})
            if digest != entry.hash:
                return ChainReport(count, entry.seq, "content does not match its hash")
            prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
        head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
        if head.seq != count or head.hash != prev:
            return ChainReport(count, count + 1, "the last entries were removed")
    return ChainReport(count)


def _entries(session: Session, batch: int) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.seq > last)
                                    .order_by(AuditEntry.seq).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def entries(engine: Engine, tenants: list[str] | None, limit: int = 200) -> list[AuditEntry]:
    """The newest entries, of the given tenants only (``None``: all, for admins)."""
    with Session(engine) as session:
        query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
        if tenants is not None:
            query = query.where(AuditEntry.tenant_id.in_(tenants))
        return list(session.scalars(query))

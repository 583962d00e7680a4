"""Tables of the state store. Every row that belongs to a hospital carries its ``tenant_id``.

Schema changes go through Alembic (``migrations/``): never ``create_all`` outside tests of the
migrations themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    """A hospital (or care provider) whose data is kept apart from every other's."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IngestToken(Base):
    """A secret a shipper sends to ``POST /ingest``; only its SHA-256 is kept (the token is
    32 random bytes, so a slow password hash would add nothing but latency per request)."""

    __tablename__ = "ingest_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AlertRow(Base):
    """An alert, possibly grouping repeats of one rule on one host (``count``)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    rule_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    pack: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20), default="rule")
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(500), default="")
    event_time: Mapped[str | None] = mapped_column(String(40), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="new")
    # triage (console): new -> acknowledged -> in_progress -> closed (with a reason)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    acknowledged: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    matched: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    event: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # covering for the overview's grouped counts and the queue's filters (SQLite reads no row)
        Index("alerts_tenant_time", "tenant_id", "last_seen", "level", "status", "rule_id", "host"),
        Index("alerts_time", "last_seen", "tenant_id", "level", "status", "rule_id", "host"),  # all hospitals
        Index("alerts_group", "tenant_id", "rule_id", "host", "status", "last_seen"),
        Index("alerts_tenant_status", "tenant_id", "status", "last_seen"),
    )


class AlertKey(Base):
    """Deterministic key of each (rule, record) that produced or joined an alert: a record
    delivered a second time (at-least-once bus) finds its key and adds nothing."""

    __tablename__ = "alert_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    tenant_id: Mapped[str] = mapped_column(String(64))


class QuarantinedRecord(Base):
    """A record that could not be parsed, kept with the reason so nothing is silently lost."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    record_key: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received: Mapped[datetime] = mapped_column(DateTime(timezone=True))

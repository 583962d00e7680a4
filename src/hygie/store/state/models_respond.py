"""Tables of response: playbook triggers, the actions a tenant lets run without approval,
playbook runs and their steps, encrypted connector secrets, NIS 2 significant incidents with
their reports, and the status of care services during a case. Every row carries its tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from hygie.store.state.models import Base


class PlaybookTrigger(Base):
    """Start ``playbook_id`` on a new alert of this tenant whose rule is ``rule_id``, or whose
    level is at least ``min_severity`` (one of the two is set)."""

    __tablename__ = "respond_triggers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    playbook_id: Mapped[str] = mapped_column(String(200))
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    min_severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AutoAction(Base):
    """An action (``ldap.disable_user``, ``email.send``...) this tenant lets run without an
    analyst's approval; absent: approval needed."""

    __tablename__ = "respond_auto_actions"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlaybookRun(Base):
    """One execution of a playbook on a case. ``stack`` holds the workflow steps still to
    visit (``playbook_id#step_id``), so a run waiting for approval resumes where it stopped."""

    __tablename__ = "playbook_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    playbook_id: Mapped[str] = mapped_column(String(200))
    playbook_name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # running/waiting/done/failed/cancelled
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(100), default="manual")
    started_by: Mapped[str] = mapped_column(String(100))
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stack: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("playbook_runs_tenant_status", "tenant_id", "status"),)


class RunStep(Base):
    """A workflow step visited by a run: what it did or would do (dry run), who approved it,
    its result, and how to undo it (``rollback``: an action and its arguments)."""

    __tablename__ = "playbook_run_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    step_ref: Mapped[str] = mapped_column(String(300))
    step_type: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(300), default="")
    # visited/awaiting_approval/running/done/failed/dry_run/rejected/skipped
    status: Mapped[str] = mapped_column(String(20))
    commands: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    idem_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rollback: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rolled_back: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConnectorSecret(Base):
    """A connector secret (password, token, HMAC key), encrypted with the data dir's key."""

    __tablename__ = "respond_secrets"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Nis2Incident(Base):
    """A case flagged as a significant incident under NIS 2 (art. 23): the deadlines run from
    ``aware_at``, shown in ``timezone``."""

    __tablename__ = "nis2_incidents"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    aware_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    suspected_malicious: Mapped[bool] = mapped_column(Boolean, default=False)
    cross_border: Mapped[bool] = mapped_column(Boolean, default=False)
    cross_border_detail: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    # what the analyst adds for the reports (keys: respond/templates/nis2_fields.json "details")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    flagged_by: Mapped[str] = mapped_column(String(100))
    flagged: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Nis2Report(Base):
    """One report owed to the authority: early warning, notification, intermediate, final."""

    __tablename__ = "nis2_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("nis2_incidents.case_id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(20))
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class CareServiceStatus(Base):
    """A care service's status (up/degraded/down) from ``at`` on, during a case."""

    __tablename__ = "care_service_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    service: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")

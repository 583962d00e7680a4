"""Tables of the Prepare stage: assessment campaigns, answers (history kept), evidence
attachments, and telemetry proposals with the human decision on each. Every row carries its
tenant, so a read can always be scoped to one hospital."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hygie.store.state.models import Base


class AssessmentCampaign(Base):
    """One self-assessment of a hospital against chosen frameworks, at one size profile."""

    __tablename__ = "assessment_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    frameworks: Mapped[list[str]] = mapped_column(JSON, default=list)
    size: Mapped[str] = mapped_column(String(10))  # small / medium / large
    beds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sites: Mapped[int | None] = mapped_column(Integer, nullable=True)
    it_staff: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AssessmentAnswer(Base):
    """An answer as given; never updated. The latest row per question is the answer in force,
    the earlier ones are the history (who said what, when)."""

    __tablename__ = "assessment_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(10))  # a level of the question's scale, or "na"
    note: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str] = mapped_column(String(100))
    answered: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(String(20), default="manual")  # manual/import/telemetry/override
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("assessment_proposals.id"), nullable=True)

    __table_args__ = (Index("assessment_answers_latest", "tenant_id", "campaign_id",
                            "question_id", "answered"),)


class AssessmentEvidence(Base):
    """A file (kept on disk by its SHA-256, under the data dir), a link or a note backing an
    answer."""

    __tablename__ = "assessment_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id", ondelete="CASCADE"),
                                             index=True)
    question_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # file / link / note
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(100))
    added: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssessmentProposal(Base):
    """An answer proposed from telemetry, with its proof and the time of the data it read; a
    person confirms it or overrides it (who, when, what value, why)."""

    __tablename__ = "assessment_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id", ondelete="CASCADE"),
                                             index=True)
    question_id: Mapped[str] = mapped_column(String(100))
    check: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(10))
    proof: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    observed: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the data was read
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending/confirmed/overridden
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    final_value: Mapped[str | None] = mapped_column(String(10), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")

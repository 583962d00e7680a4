"""Operations on the Prepare tables: campaigns, answers, evidence, telemetry proposals, and the
alert timings the continuity KPIs need.

Every read takes a tenant, and every write checks that the campaign it touches belongs to that
tenant: a campaign id guessed from another hospital is "not found", never another's data.
Answers are only ever inserted: the latest per question is in force, the others are history."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as utc
from hygie.store.state import audit
from hygie.store.state.models import AlertRow, Tenant
from hygie.store.state.models_prepare import (
    AssessmentAnswer,
    AssessmentCampaign,
    AssessmentEvidence,
    AssessmentProposal,
)
from hygie.store.state.scope import Tenants, scoped

MAX_EVIDENCE_BYTES = 20 * 1024 * 1024  # as case attachments: held in memory while stored
ORIGINS = ("manual", "import", "telemetry", "override")


class NotFound(KeyError):
    """No such campaign or proposal for this tenant."""


def check_link(url: str) -> str:
    """An evidence link: http or https with a host, at most 2000 characters (no javascript:,
    file: or data: link ends up in a page or a PDF)."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or len(text) > 2000 \
            or any(c.isspace() or ord(c) < 32 for c in text):
        raise ValueError("a link must be an http:// or https:// address (2000 characters at most)")
    return text


@dataclass(frozen=True, slots=True)
class AlertTiming:
    """What the KPIs need of one alert; ``acknowledged``/``closed`` are None when the schema
    has no such column or the alert has not reached that state."""

    level: str
    tags: tuple[str, ...]
    event_time: str | None
    first_seen: datetime
    last_seen: datetime
    status: str
    acknowledged: datetime | None
    closed: datetime | None


class PrepareStore:
    def __init__(self, engine: Engine, evidence_dir: Path | None = None) -> None:
        self.engine = engine
        self.evidence_dir = evidence_dir

    # -- campaigns -------------------------------------------------------------------------------
    def create_campaign(self, tenant: str, frameworks: list[str], size: str, *, name: str = "",
                        beds: int | None = None, sites: int | None = None,
                        it_staff: int | None = None, by: str = "",
                        when: datetime | None = None) -> AssessmentCampaign:
        if size not in ("small", "medium", "large"):
            raise ValueError(f"size must be small, medium or large, not {size!r}")
        if not frameworks:
            raise ValueError("a campaign needs at least one framework")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if session.get(Tenant, tenant) is None:
                raise NotFound(f"unknown tenant {tenant!r}")
            row = AssessmentCampaign(tenant_id=tenant, name=name, frameworks=list(frameworks),
                                     size=size, beds=beds, sites=sites, it_staff=it_staff,
                                     created_by=by, created=when or _now())
            session.add(row)
        return row

    def campaigns(self, tenant: str) -> list[AssessmentCampaign]:
        """The tenant's campaigns, newest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(
                select(AssessmentCampaign).where(AssessmentCampaign.tenant_id == tenant)
                .order_by(AssessmentCampaign.created.desc(), AssessmentCampaign.id.desc())))

    def campaign(self, tenant: str, campaign_id: int | None = None) -> AssessmentCampaign:
        """Campaign ``campaign_id`` of ``tenant``; without an id, its latest open one."""
        if campaign_id is None:
            open_ones = [c for c in self.campaigns(tenant) if c.closed is None]
            if not open_ones:
                raise NotFound(f"tenant {tenant!r} has no open campaign (hygie assess start)")
            return open_ones[0]
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(AssessmentCampaign, campaign_id)
        if row is None or row.tenant_id != tenant:
            raise NotFound(f"no campaign {campaign_id} for tenant {tenant!r}")
        return row

    def previous_campaign(self, tenant: str, campaign_id: int) -> AssessmentCampaign | None:
        """The campaign of the same tenant created just before ``campaign_id`` (for progress)."""
        ordered = self.campaigns(tenant)
        ids = [c.id for c in ordered]
        if campaign_id not in ids:
            raise NotFound(f"no campaign {campaign_id} for tenant {tenant!r}")
        position = ids.index(campaign_id)
        return ordered[position + 1] if position + 1 < len(ordered) else None

    def close_campaign(self, tenant: str, campaign_id: int, when: datetime | None = None,
                       by: str = "system") -> bool:
        """Freeze a campaign (audited); False when it was already closed (nothing changes)."""
        with Session(self.engine) as session, session.begin():
            row = self._owned(session, AssessmentCampaign, tenant, campaign_id)
            if row.closed is not None:
                return False
            row.closed = when or _now()
            audit.record(session, by, "assessment.campaign.close", f"campaign:{campaign_id}", tenant)
            return True

    # -- answers ---------------------------------------------------------------------------------
    def record_answer(self, tenant: str, campaign_id: int, question_id: str, value: str, by: str,
                      *, note: str = "", origin: str = "manual", proposal_id: int | None = None,
                      when: datetime | None = None) -> AssessmentAnswer:
        """Add an answer (the caller has checked ``value`` against the question's scale)."""
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return self._add_answer(session, tenant, campaign_id, question_id, value, by, note,
                                    origin, proposal_id, when)

    def _add_answer(self, session: Session, tenant: str, campaign_id: int, question_id: str,
                    value: str, by: str, note: str, origin: str, proposal_id: int | None,
                    when: datetime | None) -> AssessmentAnswer:
        campaign = self._owned(session, AssessmentCampaign, tenant, campaign_id)
        if campaign.closed is not None:
            raise ValueError(f"campaign {campaign_id} is closed: start a new one")
        row = AssessmentAnswer(tenant_id=tenant, campaign_id=campaign_id, question_id=question_id,
                               value=str(value), note=note, answered_by=by,
                               answered=when or _now(), origin=origin, proposal_id=proposal_id)
        session.add(row)
        session.flush()
        return row

    def latest_answers(self, tenant: str, campaign_id: int) -> dict[str, AssessmentAnswer]:
        """The answer in force per question: the latest (ties: the last inserted)."""
        latest: dict[str, AssessmentAnswer] = {}
        for row in self._answers(tenant, campaign_id):
            latest[row.question_id] = row
        return latest

    def answer_history(self, tenant: str, campaign_id: int,
                       question_id: str | None = None) -> list[AssessmentAnswer]:
        """Every answer given, oldest first."""
        return [row for row in self._answers(tenant, campaign_id)
                if question_id is None or row.question_id == question_id]

    def _answers(self, tenant: str, campaign_id: int) -> list[AssessmentAnswer]:
        self.campaign(tenant, campaign_id)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(
                select(AssessmentAnswer).where(AssessmentAnswer.tenant_id == tenant,
                                               AssessmentAnswer.campaign_id == campaign_id)
                .order_by(AssessmentAnswer.answered, AssessmentAnswer.id)))

    # -- evidence --------------------------------------------------------------------------------
    def add_evidence(self, tenant: str, campaign_id: int, question_id: str, by: str, *,
                     file: Path | None = None, url: str | None = None, note: str = "",
                     data: bytes | None = None, filename: str | None = None) -> AssessmentEvidence:
        """Attach a file (``file`` on disk, or ``data`` with its ``filename``; copied under
        ``evidence_dir`` by content hash), an http(s) link, or a note. A closed campaign is
        frozen: nothing is added to it."""
        if file is not None:
            size = Path(file).stat().st_size
            if size > MAX_EVIDENCE_BYTES:
                raise ValueError(f"{file}: {size} bytes, more than {MAX_EVIDENCE_BYTES}")
            data, filename = Path(file).read_bytes(), Path(file).name
        if sum(x is not None for x in (data, url)) > 1 or (data is None and url is None and not note.strip()):
            raise ValueError("give one file, one link, or a note")
        if url is not None:
            url = check_link(url)
        if not question_id or len(question_id) > 100:
            raise ValueError("evidence needs the id of the question it backs")
        sha = name = size = None
        if data is not None:
            sha, size = self._keep_bytes(data)
            name = (Path(filename or "evidence").name or "evidence")[:255]
        kind = "file" if data is not None else "link" if url is not None else "note"
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            campaign = self._owned(session, AssessmentCampaign, tenant, campaign_id)
            if campaign.closed is not None:
                raise ValueError(f"campaign {campaign_id} is closed: start a new one")
            row = AssessmentEvidence(tenant_id=tenant, campaign_id=campaign_id,
                                     question_id=question_id, kind=kind, sha256=sha,
                                     filename=name, size=size, url=url, note=note[:4000],
                                     added_by=by, added=_now())
            session.add(row)
            session.flush()
            audit.record(session, by, "assessment.evidence.add", f"evidence:{row.id}", tenant,
                         {"campaign": campaign_id, "question": question_id, "kind": kind,
                          "file": name, "sha256": sha, "url": _unqueried(url)})
        return row

    def evidence(self, tenant: str, campaign_id: int,
                 question_id: str | None = None) -> list[AssessmentEvidence]:
        self.campaign(tenant, campaign_id)
        query = select(AssessmentEvidence).where(AssessmentEvidence.tenant_id == tenant,
                                                 AssessmentEvidence.campaign_id == campaign_id)
        if question_id is not None:
            query = query.where(AssessmentEvidence.question_id == question_id)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query.order_by(AssessmentEvidence.id)))

    def evidence_item(self, tenant: str, evidence_id: int) -> AssessmentEvidence:
        """One piece of evidence of ``tenant`` (NotFound otherwise)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return self._owned(session, AssessmentEvidence, tenant, evidence_id)

    def delete_evidence(self, tenant: str, evidence_id: int, by: str) -> AssessmentEvidence:
        """Remove a piece of evidence (audited); its file goes when no other row keeps the same
        content. Evidence of a closed campaign stays: the campaign is frozen."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = self._owned(session, AssessmentEvidence, tenant, evidence_id)
            campaign = session.get(AssessmentCampaign, row.campaign_id)
            if campaign is not None and campaign.closed is not None:
                raise ValueError(f"campaign {row.campaign_id} is closed: its evidence is frozen")
            session.delete(row)
            audit.record(session, by, "assessment.evidence.delete", f"evidence:{evidence_id}", tenant,
                         {"campaign": row.campaign_id, "question": row.question_id, "kind": row.kind,
                          "file": row.filename, "sha256": row.sha256, "url": _unqueried(row.url)})
            shared = row.sha256 is not None and session.scalar(
                select(AssessmentEvidence.id).where(AssessmentEvidence.sha256 == row.sha256,
                                                    AssessmentEvidence.id != evidence_id).limit(1))
        if row.sha256 is not None and not shared and self.evidence_dir is not None:
            self.evidence_path(row.sha256).unlink(missing_ok=True)
        return row

    def evidence_path(self, sha256: str) -> Path:
        if self.evidence_dir is None:
            raise ValueError("this store has no evidence folder")
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256")
        return self.evidence_dir / sha256[:2] / sha256

    def _keep_bytes(self, data: bytes) -> tuple[str, int]:
        if len(data) > MAX_EVIDENCE_BYTES:
            raise ValueError(f"a file is limited to {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB")
        digest = hashlib.sha256(data).hexdigest()
        target = self.evidence_path(digest)
        if not target.exists():  # same content, one copy
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        return digest, len(data)

    # -- lookups across the caller's tenants (the API scopes by principal, not by one tenant) ----
    def find(self, kind: str, tenants: Tenants, row_id: int) -> Any:
        """The campaign, proposal or evidence ``row_id`` if one of ``tenants`` owns it, else
        NotFound (so another hospital's ids look like ids that do not exist)."""
        model = {"campaign": AssessmentCampaign, "proposal": AssessmentProposal,
                 "evidence": AssessmentEvidence}[kind]
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.scalar(scoped(select(model).where(model.id == row_id), model.tenant_id, tenants))
        if row is None:
            raise NotFound(f"no {kind} {row_id}")
        return row

    # -- telemetry proposals ---------------------------------------------------------------------
    def add_proposal(self, tenant: str, campaign_id: int, question_id: str, check: str,
                     value: str, proof: str, observed: datetime,
                     details: dict[str, Any] | None = None) -> AssessmentProposal:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if self._owned(session, AssessmentCampaign, tenant, campaign_id).closed is not None:
                raise ValueError(f"campaign {campaign_id} is closed: start a new one")
            row = AssessmentProposal(tenant_id=tenant, campaign_id=campaign_id,
                                     question_id=question_id, check=check, value=str(value),
                                     proof=proof, details=details or {}, observed=observed,
                                     created=_now(), status="pending", reason="")
            session.add(row)
        return row

    def proposals(self, tenant: str, campaign_id: int,
                  status: str | None = None) -> list[AssessmentProposal]:
        self.campaign(tenant, campaign_id)
        query = select(AssessmentProposal).where(AssessmentProposal.tenant_id == tenant,
                                                 AssessmentProposal.campaign_id == campaign_id)
        if status is not None:
            query = query.where(AssessmentProposal.status == status)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query.order_by(AssessmentProposal.id)))

    def proposal(self, tenant: str, proposal_id: int) -> AssessmentProposal:
        """One proposal of ``tenant`` (NotFound otherwise)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return self._owned(session, AssessmentProposal, tenant, proposal_id)

    def decide(self, tenant: str, proposal_id: int, by: str, value: str | None = None,
               reason: str = "") -> AssessmentAnswer:
        """A person confirms a proposal (``value`` None or equal) or overrides it with another
        value; the decision is kept on the proposal and becomes an answer, in one transaction."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            proposal = self._owned(session, AssessmentProposal, tenant, proposal_id)
            if proposal.status != "pending":
                raise ValueError(f"proposal {proposal_id} was already {proposal.status} by "
                                 f"{proposal.decided_by}")
            final = proposal.value if value is None else str(value)
            overridden = final != proposal.value
            if overridden and not reason:
                raise ValueError("overriding a telemetry proposal needs a reason")
            proposal.status = "overridden" if overridden else "confirmed"
            proposal.decided_by, proposal.decided = by, _now()
            proposal.final_value, proposal.reason = final, reason
            note = f"{'override of' if overridden else 'confirmed'} telemetry check " \
                   f"{proposal.check}: {proposal.proof}" + (f" / reason: {reason}" if reason else "")
            return self._add_answer(session, tenant, proposal.campaign_id, proposal.question_id,
                                    final, by, note, "override" if overridden else "telemetry",
                                    proposal.id, proposal.decided)

    # -- alerts, for the KPIs --------------------------------------------------------------------
    def alert_timings(self, tenant: str, since: datetime | None = None,
                      until: datetime | None = None) -> list[AlertTiming]:
        """Alerts of ``tenant`` first seen in [since, until). Reads the triage timestamps only
        where the schema has them (the console adds them)."""
        columns = AlertRow.__table__.columns
        ack_col = columns.get("acknowledged")
        closed_col = columns.get("closed")
        picked = [AlertRow.level, AlertRow.tags, AlertRow.event_time, AlertRow.first_seen,
                  AlertRow.last_seen, AlertRow.status]
        picked += [c for c in (ack_col, closed_col) if c is not None]
        query = select(*picked).where(AlertRow.tenant_id == tenant)
        if since is not None:
            query = query.where(AlertRow.first_seen >= since)
        if until is not None:
            query = query.where(AlertRow.first_seen < until)
        out = []
        with Session(self.engine) as session:
            for row in session.execute(query):
                values = row._mapping
                out.append(AlertTiming(
                    values["level"], tuple(values["tags"] or ()), values["event_time"],
                    utc(values["first_seen"]), utc(values["last_seen"]), values["status"],
                    utc(values["acknowledged"]) if ack_col is not None else None,
                    utc(values["closed"]) if closed_col is not None else None))
        return out

    @staticmethod
    def _owned(session: Session, model: Any, tenant: str, row_id: int) -> Any:
        row = session.get(model, row_id)
        if row is None or row.tenant_id != tenant:
            raise NotFound(f"no {model.__tablename__[11:-1]} {row_id} for tenant {tenant!r}")
        return row


def _unqueried(url: str | None) -> str | None:
    """A link as the audit log keeps it: without query or fragment, where tokens hide."""
    return None if url is None else urlsplit(url)._replace(query="", fragment="").geturl()


def _now() -> datetime:
    return datetime.now(timezone.utc)

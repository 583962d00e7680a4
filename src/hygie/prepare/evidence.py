"""Answers proposed from Hygie's own telemetry, each with its proof and the period it read.

A check measures something (share of Windows hosts sending Sysmon events, silent log sources,
share of VPN logins with a second factor, backup runs that succeeded, age of the last restore
test), turns it into a score between 0 and 1 with the thresholds of ``evidence.yml`` (data, so
a site can tune them), and proposes the nearest level of each question that cites the check.
When the data is not there, the check says so plainly and proposes nothing: no data is not a
"no". A person then confirms or overrides each proposal (``PrepareStore.decide``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hygie.prepare import checks
from hygie.prepare.loader import Catalog
from hygie.prepare.scoring import applies
from hygie.prepare.telemetry import Telemetry

DEFAULTS = Path(__file__).with_name("evidence.yml")
Levels = list[tuple[float, float]]


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SysmonConfig(_Check):
    windows_hosts: str
    monitored: str
    window_days: int = Field(gt=0)
    inventory_days: int = Field(gt=0)
    levels: Levels


class SilentConfig(_Check):
    silent_hours: int = Field(gt=0)
    lookback_days: int = Field(gt=0)
    levels: Levels


class VpnConfig(_Check):
    logins: str
    with_mfa: str
    user_field: str
    window_days: int = Field(gt=0)
    levels: Levels


class BackupConfig(_Check):
    runs: str
    success: str
    job_field: str
    window_days: int = Field(gt=0)
    levels: Levels


class RestoreConfig(_Check):
    runs: str
    success: str
    lookback_days: int = Field(gt=0)
    age_levels: Levels


class EvidenceConfig(_Check):
    sysmon_coverage: SysmonConfig
    silent_sources: SilentConfig
    vpn_mfa: VpnConfig
    backup_success: BackupConfig
    restore_test: RestoreConfig


def load_config(override: Path | None = None) -> EvidenceConfig:
    """The shipped checks, with the keys of ``override`` (a user file) replacing theirs.
    Raises ValueError naming the file for a bad override."""
    data = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    if override is not None:
        extra = yaml.safe_load(Path(override).read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{override}: expected a mapping of check names")
        for name, values in extra.items():
            if name not in data or not isinstance(values, dict):
                raise ValueError(f"{override}: unknown check or not a mapping: {name!r}")
            data[name] = {**data[name], **values}
    try:
        return EvidenceConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{override or DEFAULTS}: {exc}") from None


@dataclass(slots=True)
class Finding:
    """What one check found: ``score`` in [0, 1], or None with ``available`` False and the
    reason in ``proof`` when there was nothing to measure."""

    check: str
    available: bool
    score: float | None
    proof: str
    since: datetime | None
    until: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Proposal:
    question_id: str
    value: str
    finding: Finding


def level(share: float, levels: Levels) -> float:
    for threshold, score in levels:
        if share >= threshold:
            return score
    return 0.0


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f} %)"


def _fmt(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def sysmon_coverage(telemetry: Telemetry, tenant: str, config: SysmonConfig,
                    now: datetime, inventory: Iterable[str] | None = None) -> Finding:
    """Share of Windows hosts that sent detection telemetry in the window. The Windows hosts are
    ``inventory`` when given (an asset list), else the hosts seen with a Windows log in the
    inventory window, which cannot count a host that sends nothing at all."""
    since = now - timedelta(days=config.window_days)
    if inventory is not None:
        hosts = {h.lower() for h in inventory if h}
        basis = "from the asset list given"
    else:
        seen = telemetry.activity(tenant, config.windows_hosts,
                                  now - timedelta(days=config.inventory_days), now, ["host"])
        hosts = {key[0].lower() for key in seen if key[0]}
        basis = f"seen with a Windows log in the last {config.inventory_days} days"
    sending = {key[0].lower() for key in telemetry.activity(tenant, config.monitored, since, now, ["host"])
               if key[0]}
    if not hosts:
        return Finding(checks.SYSMON_COVERAGE, False, None,
                       f"no data: no Windows host {basis}", since, now)
    covered = hosts & sending
    missing = sorted(hosts - sending)
    proof = (f"{_share(len(covered), len(hosts))} Windows hosts ({basis}) sent Sysmon/EDR "
             f"events between {_fmt(since)} and {_fmt(now)}")
    if missing:
        proof += f"; not sending: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else "")
    share = len(covered) / len(hosts)
    return Finding(checks.SYSMON_COVERAGE, True, level(share, config.levels), proof, since, now,
                   {"hosts": len(hosts), "sending": len(covered), "share": share,
                    "missing": missing})


@dataclass(frozen=True, slots=True)
class SilentSource:
    host: str
    stream: str  # channel, or record kind
    last_seen: datetime


def silent_sources(telemetry: Telemetry, tenant: str, config: SilentConfig,
                   now: datetime) -> tuple[Finding, list[SilentSource]]:
    """Log sources seen in the look-back window but silent for more than ``silent_hours``."""
    since = now - timedelta(days=config.lookback_days)
    seen = telemetry.activity(tenant, "*", since, now, ["host", "channel", "kind"])
    last: dict[tuple[str, str], datetime] = {}
    for (host, channel, kind), activity in seen.items():
        key = (host or "(no host)", channel or kind or "?")
        last[key] = max(last.get(key, activity.last_seen), activity.last_seen)
    if not last:
        return Finding(checks.SILENT_SOURCES, False, None,
                       f"no data: no event in the last {config.lookback_days} days", since, now), []
    cutoff = now - timedelta(hours=config.silent_hours)
    silent = sorted((SilentSource(h, s, t) for (h, s), t in last.items() if t < cutoff),
                    key=lambda s: s.last_seen)
    proof = (f"{len(silent)} of {len(last)} log sources seen in the last {config.lookback_days} "
             f"days have sent nothing for more than {config.silent_hours} h")
    if silent:
        proof += ": " + ", ".join(f"{s.host}/{s.stream} (last {_fmt(s.last_seen)})" for s in silent[:10])
    share_alive = 1 - len(silent) / len(last)
    return (Finding(checks.SILENT_SOURCES, True, level(share_alive, config.levels), proof, since,
                    now, {"sources": len(last), "silent": len(silent)}), silent)


def vpn_mfa(telemetry: Telemetry, tenant: str, config: VpnConfig, now: datetime) -> Finding:
    """Share of successful remote-access logins that carried a second factor."""
    since = now - timedelta(days=config.window_days)
    logins = telemetry.activity(tenant, config.logins, since, now, [config.user_field])
    if not logins:
        return Finding(checks.VPN_MFA, False, None, f"no data: no VPN login in the last "
                       f"{config.window_days} days (query: {config.logins})", since, now)
    strong = telemetry.activity(tenant, f"({config.logins}) AND ({config.with_mfa})", since, now,
                                [config.user_field])
    total = sum(a.records for a in logins.values())
    with_mfa = sum(a.records for a in strong.values())
    without = sorted(str(k[0]) for k, a in logins.items()
                     if a.records > (strong[k].records if k in strong else 0))
    proof = (f"{_share(with_mfa, total)} VPN logins of {len(logins)} users between "
             f"{_fmt(since)} and {_fmt(now)} used a second factor")
    if without:
        proof += f"; users with logins without one: {', '.join(without[:10])}"
    share = with_mfa / total
    return Finding(checks.VPN_MFA, True, level(share, config.levels), proof, since, now,
                   {"logins": total, "with_mfa": with_mfa, "users": len(logins),
                    "users_without_mfa": without})


def backup_success(telemetry: Telemetry, tenant: str, config: BackupConfig,
                   now: datetime) -> Finding:
    """Share of backup runs that succeeded in the window, and each job's last success."""
    since = now - timedelta(days=config.window_days)
    runs = telemetry.activity(tenant, config.runs, since, now, [config.job_field])
    if not runs:
        return Finding(checks.BACKUP_SUCCESS, False, None, f"no data: no backup job run in the "
                       f"last {config.window_days} days (query: {config.runs})", since, now)
    ok = telemetry.activity(tenant, f"({config.runs}) AND ({config.success})", since, now,
                            [config.job_field])
    total = sum(a.records for a in runs.values())
    good = sum(a.records for a in ok.values())
    failing = sorted(str(k[0]) for k in runs if k not in ok)
    last_success = {str(k[0]): a.last_seen for k, a in ok.items()}
    proof = f"{_share(good, total)} backup runs of {len(runs)} jobs succeeded since {_fmt(since)}"
    if failing:
        proof += f"; jobs with no successful run: {', '.join(failing[:10])}"
    if last_success:
        proof += f"; last success {_fmt(max(last_success.values()))}"
    return Finding(checks.BACKUP_SUCCESS, True, level(good / total, config.levels), proof, since,
                   now, {"runs": total, "succeeded": good, "jobs": len(runs),
                         "failing_jobs": failing,
                         "last_success": {j: t.isoformat() for j, t in last_success.items()}})


def restore_test(telemetry: Telemetry, tenant: str, config: RestoreConfig,
                 backup: BackupConfig, now: datetime) -> Finding:
    """Age of the last successful restore test. Backup logs without any restore test propose
    the lowest level; no backup log at all is "no data"."""
    since = now - timedelta(days=config.lookback_days)
    tests = telemetry.activity(tenant, f"({config.runs}) AND ({config.success})", since, now, [])
    if not tests:
        any_backup = telemetry.activity(tenant, f"({backup.runs}) OR ({config.runs})", since, now, [])
        if not any_backup:
            return Finding(checks.RESTORE_TEST, False, None, "no data: no backup log in the last "
                           f"{config.lookback_days} days", since, now)
        return Finding(checks.RESTORE_TEST, True, 0.0, "backup logs are collected but show no "
                       f"successful restore test in the last {config.lookback_days} days",
                       since, now, {"last_restore_test": None})
    last = max(a.last_seen for a in tests.values())
    age = (now - last).days
    score = next((s for limit, s in config.age_levels if age <= limit), 0.0)
    proof = f"last successful restore test {_fmt(last)} ({age} days ago)"
    return Finding(checks.RESTORE_TEST, True, score, proof, since, now,
                   {"last_restore_test": last.isoformat(), "age_days": age})


def not_available(check: str, now: datetime) -> Finding:
    """Checks whose data comes from the intel stage, which is not there yet."""
    what = {checks.INTERNET_EXPOSURE: "exposure data (exposed services)",
            checks.KEV_AGE: "known-exploited-vulnerability data (KEV)"}[check]
    return Finding(check, False, None, f"not available: Hygie has no {what} yet; it comes with "
                   "the threat-intelligence stage", None, now)


def run_checks(telemetry: Telemetry, tenant: str, config: EvidenceConfig,
               now: datetime | None = None,
               inventory: Iterable[str] | None = None) -> dict[str, Finding]:
    """Every check for ``tenant``, at ``now`` (default: the current time)."""
    now = now or datetime.now(timezone.utc)
    silent, _ = silent_sources(telemetry, tenant, config.silent_sources, now)
    return {
        checks.SYSMON_COVERAGE: sysmon_coverage(telemetry, tenant, config.sysmon_coverage, now,
                                                inventory),
        checks.SILENT_SOURCES: silent,
        checks.VPN_MFA: vpn_mfa(telemetry, tenant, config.vpn_mfa, now),
        checks.BACKUP_SUCCESS: backup_success(telemetry, tenant, config.backup_success, now),
        checks.RESTORE_TEST: restore_test(telemetry, tenant, config.restore_test,
                                          config.backup_success, now),
        checks.INTERNET_EXPOSURE: not_available(checks.INTERNET_EXPOSURE, now),
        checks.KEV_AGE: not_available(checks.KEV_AGE, now),
    }


def proposals(catalog: Catalog, frameworks: Iterable[str], size: str,
              findings: dict[str, Finding]) -> list[Proposal]:
    """One proposal per applicable question of ``frameworks`` whose check found data: the
    level of the question's scale nearest to the check's score."""
    out = []
    for framework_id in frameworks:
        framework = catalog.frameworks.get(framework_id)
        if framework is None:
            continue
        for question in framework.questions:
            finding = findings.get(question.evidence or "")
            if finding is None or not finding.available or finding.score is None:
                continue
            if not applies(question, size):
                continue
            value = framework.scale(question.scale).nearest(finding.score)
            out.append(Proposal(question.id, str(value), finding))
    return out

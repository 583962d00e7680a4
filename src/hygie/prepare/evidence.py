"""Answers proposed from Hygie's own telemetry, each with its proof and the period it read.

A check measures something (share of Windows hosts sending Sysmon events, silent log sources,
share of VPN logins with a second factor, backup runs that succeeded, age of the last restore
test; and, in ``assets.py``, share of assets monitored, internet exposure, KEV age), turns it
into a score between 0 and 1 with the thresholds of ``evidence.yml`` (data, so a site can tune
them), and proposes the nearest level of each question that cites the check.
When the data is not there, the check says so plainly and proposes nothing: no data is not a
"no". A person then confirms or overrides each proposal (``PrepareStore.decide``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from hygie.prepare import checks
from hygie.prepare.assets import (
    AssetCoverageConfig,
    ExposureConfig,
    KevAgeConfig,
    asset_coverage,
    internet_exposure,
    kev_age,
)
from hygie.prepare.findings import CheckConfig, Finding, Levels, fmt_time, level, share_text
from hygie.prepare.loader import Catalog
from hygie.prepare.scoring import applies
from hygie.prepare.telemetry import Telemetry
from hygie.store.state.prepare_metrics import AssetData

DEFAULTS = Path(__file__).with_name("evidence.yml")


class SysmonConfig(CheckConfig):
    windows_hosts: str
    monitored: str
    window_days: int = Field(gt=0)
    inventory_days: int = Field(gt=0)
    levels: Levels


class SilentConfig(CheckConfig):
    silent_hours: int = Field(gt=0)
    lookback_days: int = Field(gt=0)
    levels: Levels


class VpnConfig(CheckConfig):
    logins: str
    with_mfa: str
    user_field: str
    window_days: int = Field(gt=0)
    levels: Levels


class BackupConfig(CheckConfig):
    runs: str
    success: str
    job_field: str
    window_days: int = Field(gt=0)
    levels: Levels
    freshness_days: int = Field(30, gt=0)  # how far back the KPI looks for the last success


class RestoreConfig(CheckConfig):
    runs: str
    success: str
    lookback_days: int = Field(gt=0)
    age_levels: Levels


class EvidenceConfig(CheckConfig):
    sysmon_coverage: SysmonConfig
    silent_sources: SilentConfig
    vpn_mfa: VpnConfig
    backup_success: BackupConfig
    restore_test: RestoreConfig
    asset_coverage: AssetCoverageConfig
    internet_exposure: ExposureConfig
    kev_age: KevAgeConfig


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


@dataclass(frozen=True, slots=True)
class Proposal:
    question_id: str
    value: str
    finding: Finding


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
    proof = (f"{share_text(len(covered), len(hosts))} Windows hosts ({basis}) sent Sysmon/EDR "
             f"events between {fmt_time(since)} and {fmt_time(now)}")
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
        proof += ": " + ", ".join(f"{s.host}/{s.stream} (last {fmt_time(s.last_seen)})" for s in silent[:10])
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
    proof = (f"{share_text(with_mfa, total)} VPN logins of {len(logins)} users between "
             f"{fmt_time(since)} and {fmt_time(now)} used a second factor")
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
    proof = f"{share_text(good, total)} backup runs of {len(runs)} jobs succeeded since {fmt_time(since)}"
    if failing:
        proof += f"; jobs with no successful run: {', '.join(failing[:10])}"
    if last_success:
        proof += f"; last success {fmt_time(max(last_success.values()))}"
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
    proof = f"last successful restore test {fmt_time(last)} ({age} days ago)"
    return Finding(checks.RESTORE_TEST, True, score, proof, since, now,
                   {"last_restore_test": last.isoformat(), "age_days": age})


def run_checks(telemetry: Telemetry, tenant: str, config: EvidenceConfig,
               now: datetime | None = None,
               inventory: Iterable[str] | None = None,
               assets: AssetData | None = None) -> dict[str, Finding]:
    """Every check for ``tenant``, at ``now`` (default: the current time). ``inventory``: the
    Windows hosts for Sysmon coverage; ``assets``: the asset inventory and its early warnings
    (``prepare_metrics.asset_data``), without which the asset checks say "no data"."""
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
        checks.ASSET_COVERAGE: asset_coverage(telemetry, tenant, assets, config.asset_coverage, now),
        checks.INTERNET_EXPOSURE: internet_exposure(assets, config.internet_exposure, now),
        checks.KEV_AGE: kev_age(assets, config.kev_age, now),
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

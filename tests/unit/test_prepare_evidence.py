"""Telemetry evidence on fixture events written through the real event store: 10 Windows hosts
of which 7 send Sysmon, a silent source, VPN logins with and without MFA, backup runs and a
restore test; and plain "no data" answers when the data is absent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hygie.prepare import checks
from hygie.prepare.evidence import load_config, proposals, run_checks
from hygie.prepare.loader import SHIPPED, load_catalog
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.store.events import EventStore, StoredEvent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _event(tenant: str, n: int, when: datetime, host: str, kind: str = "json",
           **fields) -> StoredEvent:
    return StoredEvent(tenant, f"{host}-{n}", when.timestamp(), when.isoformat(), host,
                       "http:test", kind, fields, b"{}")


def _fixture_events(tenant: str) -> list[StoredEvent]:
    events, n = [], 0
    for i in range(10):  # 10 Windows hosts with a Security log in the last days
        host = f"ws{i:02d}"
        events.append(_event(tenant, n := n + 1, NOW - timedelta(hours=2), host,
                             Channel="Security", EventID=4624))
        if i < 7:  # 7 of them send Sysmon, one of those only 5 days ago
            ago = timedelta(days=5) if i == 6 else timedelta(hours=3)
            events.append(_event(tenant, n := n + 1, NOW - ago, host, Channel=SYSMON, EventID=1))
    # ws09 also sent Sysmon, but 10 days ago: outside the 7-day window
    events.append(_event(tenant, n := n + 1, NOW - timedelta(days=10), "ws09", Channel=SYSMON,
                         EventID=1))
    # a file server whose Security log went quiet 3 days ago
    events.append(_event(tenant, n := n + 1, NOW - timedelta(days=3), "fs01", Channel="Security",
                         EventID=4624))
    # VPN: 4 logins, 3 with a second factor; bob logged in once without
    for user, mfa in (("alice", "true"), ("alice", "true"), ("carol", "true"), ("bob", "false")):
        events.append(_event(tenant, n := n + 1, NOW - timedelta(days=1), "fw01", "syslog",
                             subtype="vpn", action="tunnel-up", user=user, mfa=mfa))
    # backups: job "ehr" 7 successes, job "pacs" 1 failure; a restore test 200 days ago
    for day in range(7):
        events.append(_event(tenant, n := n + 1, NOW - timedelta(days=day, hours=1), "bk01",
                             backup_job="ehr", backup_result="success"))
    events.append(_event(tenant, n := n + 1, NOW - timedelta(hours=5), "bk01", backup_job="pacs",
                         backup_result="failed"))
    events.append(_event(tenant, n := n + 1, NOW - timedelta(days=200), "bk01", backup_job="ehr",
                         backup_type="restore_test", backup_result="success"))
    return events


@pytest.fixture
def telemetry(tmp_path: Path):
    store = EventStore(tmp_path / "events", retention_days=3650)
    store.append(_fixture_events("chu-a"))
    store.append(_fixture_events("chu-a")[:3])  # redelivered records count once
    store.append([_event("chu-b", 1, NOW - timedelta(hours=1), "other", Channel=SYSMON)])
    store.close()
    reader = EventStoreTelemetry(tmp_path / "events")
    yield reader
    reader.close()


def test_checks_on_fixture_data(telemetry) -> None:
    found = run_checks(telemetry, "chu-a", load_config(), NOW)
    sysmon = found[checks.SYSMON_COVERAGE]
    # 11 Windows hosts (10 workstations + fs01); 7 sent Sysmon in the last 7 days
    assert sysmon.details["hosts"] == 11 and sysmon.details["sending"] == 7
    assert "7 of 11 (64 %)" in sysmon.proof and "ws09" in sysmon.proof
    assert sysmon.score == 0.33  # 64 % is under the 75 % threshold
    silent = found[checks.SILENT_SOURCES]
    # sources: 11 hosts' Security logs, 8 hosts' Sysmon, fw01's syslog and bk01's JSON = 21;
    # silent for more than 24 h: fs01/Security (3 days), ws06/Sysmon (5 days), ws09/Sysmon (10)
    assert silent.details == {"sources": 21, "silent": 3}
    assert "fs01/Security" in silent.proof and "ws06/Microsoft-Windows-Sysmon" in silent.proof
    assert silent.score == 0.33  # 18 of 21 alive (86 %): at least 80 %, under 95 %
    vpn = found[checks.VPN_MFA]
    assert (vpn.details["logins"], vpn.details["with_mfa"]) == (4, 3)
    assert vpn.details["users_without_mfa"] == ["bob"] and vpn.score == 0.33
    backup = found[checks.BACKUP_SUCCESS]
    assert (backup.details["runs"], backup.details["succeeded"]) == (8, 7)
    assert backup.details["failing_jobs"] == ["pacs"] and backup.score == 0.33
    restore = found[checks.RESTORE_TEST]
    assert restore.details["age_days"] == 200 and restore.score == 0.67


def test_ten_hosts_seven_sending_is_seventy_percent(telemetry) -> None:
    hosts = [f"ws{i:02d}" for i in range(10)]
    found = run_checks(telemetry, "chu-a", load_config(), NOW, inventory=hosts)
    sysmon = found[checks.SYSMON_COVERAGE]
    assert sysmon.details["share"] == pytest.approx(0.7)
    assert "7 of 10 (70 %)" in sysmon.proof
    assert sysmon.details["missing"] == ["ws07", "ws08", "ws09"]


def test_no_data_is_said_plainly(telemetry) -> None:
    found = run_checks(telemetry, "chu-empty", load_config(), NOW)
    assert all(not f.available and f.score is None for f in found.values())
    assert found[checks.SYSMON_COVERAGE].proof.startswith("no data")
    assert found[checks.INTERNET_EXPOSURE].proof.startswith("no data: the asset inventory is empty")
    assert "known-exploited" in found[checks.KEV_AGE].proof
    assert found[checks.ASSET_COVERAGE].proof.startswith("no data")


def test_tenants_are_kept_apart(telemetry) -> None:
    found = run_checks(telemetry, "chu-b", load_config(), NOW)
    assert found[checks.SYSMON_COVERAGE].available  # chu-b's one host sends Sysmon
    assert found[checks.SYSMON_COVERAGE].details["hosts"] == 1


def test_proposals_take_the_nearest_level_of_each_question(telemetry) -> None:
    catalog = load_catalog([SHIPPED])
    found = run_checks(telemetry, "chu-a", load_config(), NOW)
    made = {p.question_id: p.value for p in proposals(catalog, ["care", "cis", "hicp"], "medium", found)}
    assert made["care.workstations.1"] == "1"  # 0.33 on the 0-3 scale
    assert made["care.continuity.3"] == "2"  # restore test 200 days ago: 0.67
    assert made["cis.6.4"] == "1"
    assert "hicp.2.L.D" not in made  # EDR sub-practice is for large hospitals only
    assert "care.exposure.1" not in made  # no exposure data: nothing proposed


def test_user_override_of_a_check(tmp_path: Path, telemetry) -> None:
    override = tmp_path / "evidence.yml"
    override.write_text("vpn_mfa:\n  with_mfa: \"user = 'bob' OR mfa = 'true'\"\n")
    config = load_config(override)
    assert config.vpn_mfa.logins.startswith("subtype")  # untouched keys keep the default
    found = run_checks(telemetry, "chu-a", config, NOW)
    assert found[checks.VPN_MFA].details["with_mfa"] == 4
    bad = tmp_path / "bad.yml"
    bad.write_text("vpn_mfa:\n  window_days: -1\n")
    with pytest.raises(ValueError, match="bad.yml"):
        load_config(bad)

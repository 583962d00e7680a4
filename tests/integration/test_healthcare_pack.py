"""Hygie's ``healthcare`` pack (hospital systems and perimeter): every alerting rule fires on its
attack scenario and stays quiet on its benign one (below the threshold, spread out, allowed or
normal traffic). Records are built from the templates of ``tests/fixtures/healthcare/pack/``
and sent through the real path: RawRecord -> record_to_event -> Engine.match_event, with a
correlator of the scenario's own."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

import pytest
import yaml

from hygie.core.alert import Alert
from hygie.core.event import Event
from hygie.core.record import ATNA, FHIR, HL7, SYSLOG, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import record_to_event

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "src" / "hygie" / "detect" / "packs" / "healthcare"
TEMPLATES = ROOT / "tests" / "fixtures" / "healthcare" / "pack"
FIXTURES = TEMPLATES.parent
RULE_FILES = sorted(PACK_DIR.glob("*.yml"))
POLICY = PatientPolicy(b"h" * 32)
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # a night shift
REVIEWERS = ["dpo.martin", "rssi.bernard"]


# -- the pack ----------------------------------------------------------------------------------

def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def rule(stem: str, index: int = -1) -> str:
    """The id of a rule of the pack by file and position (default: the last, which is the
    correlation in a file with a base rule)."""
    return str(_documents(PACK_DIR / f"{stem}.yml")[index]["id"])


def alerting_ids() -> set[str]:
    """Rules that raise alerts: all but the base rules that feed a correlation."""
    ids = set()
    for path in RULE_FILES:
        docs = _documents(path)
        correlations = [d for d in docs if "correlation" in d]
        ids.update(str(d["id"]) for d in (correlations or docs))
    return ids


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    placeholders = tmp_path_factory.mktemp("placeholders") / "placeholders.yml"
    placeholders.write_text(f"pacs_audit_reviewers: {REVIEWERS}\n", encoding="utf-8")
    loaded = Engine.from_paths([PACK_DIR], placeholders=placeholders)
    assert loaded.load_errors == [], [str(e) for e in loaded.load_errors]
    return loaded


# -- records from the templates ----------------------------------------------------------------

@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def fill(name: str, **values: object) -> str:
    return _template(name).substitute({k: str(v) for k, v in values.items()})


def raw(kind: str, text: str, at: datetime) -> RawRecord:
    return RawRecord("chsa", f"test:{kind}", kind, text.encode("utf-8"), at.timestamp(),
                     "10.12.0.5:51514")


def atna(name: str, at: datetime, *, syslog: bool = False, **values: object) -> RawRecord:
    """A DICOM audit message, alone or as dcm4chee sends it: RFC 5424 syslog, BOM, XML."""
    xml = fill(name, time=at.isoformat(), **values)
    if not syslog:
        return raw(ATNA, xml, at)
    return raw(SYSLOG, fill("dcm4chee_syslog_header.txt", time=at.isoformat()) + "\ufeff" + xml,
               at)


def patient_data(at: datetime, user: str, patient: str, *, event: str = "110103",
                 action: str = "R", outcome: int = 0, ae: bool = False) -> RawRecord:
    names = {"110103": "DICOM Instances Accessed", "110104": "DICOM Instances Transferred"}
    kind = ("110119", "Station AE Title") if ae else ("113871", "Person ID")
    return atna("atna_patient_data.xml", at, event_id=event, event_name=names[event],
                action=action, outcome=outcome, user=user, address="10.12.6.31",
                user_type=kind[0], user_type_name=kind[1], patient=patient,
                study=zlib.crc32(patient.encode()))


def security_alert(at: datetime, code: str, name: str, outcome: int = 0) -> RawRecord:
    return atna("atna_security_alert.xml", at, type_code=code, type_name=name, outcome=outcome,
                user="svc.biomed", address="10.30.1.44")


def hl7(name: str, at: datetime, **values: object) -> RawRecord:
    return raw(HL7, fill(name, stamp=at.strftime("%Y%m%d%H%M%S+0000"), **values), at)


def fhir(at: datetime, *, agent: str = "Practitioner/prac-7781", outcome: int = 0,
         subtype: str = "read", action: str = "R", entity: str = "Patient/IPP-100") -> RawRecord:
    return raw(FHIR, fill("fhir_auditevent_r4.json", time=at.isoformat(), subtype=subtype,
                          action=action, outcome=outcome, agent=agent, address="10.44.8.19",
                          entity=entity), at)


def syslog(name: str, at: datetime, **values: object) -> RawRecord:
    return raw(SYSLOG, fill(name, date=at.strftime("%Y-%m-%d"), clock=at.strftime("%H:%M:%S"),
                            bsd_time=at.strftime("%b %d %H:%M:%S"),
                            rt=at.strftime("%b %d %Y %H:%M:%S GMT"), **values), at)


def fortigate(at: datetime, src: str, dst: str, action: str, dport: int = 445,
              app: str = "SMB") -> RawRecord:
    msg = "Denied by forward policy check (policy 0)" if action == "deny" else "Accepted"
    return syslog("fortigate_traffic.log", at, src=src, dst=dst, dport=dport, action=action,
                  country="Reserved", session=at.second * 1000 + at.minute, service=app,
                  app=app, policy=0 if action == "deny" else 12, msg=msg)


def panos(at: datetime, src: str, dst: str, act: str, dport: int = 445,
          app: str = "ms-ds-smb") -> RawRecord:
    return syslog("cef_panos_traffic.log", at, src=src, dst=dst, act=act, dport=dport, app=app,
                  rule="clinique-vers-serveurs", zone="serveurs", session=dport)


def sshd(at: datetime, host: str, text: str) -> RawRecord:
    return syslog("sshd.log", at, pri=38, host=host, pid=24512, text=text)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def events(records: Iterable[RawRecord]) -> list[Event]:
    return [record_to_event(record, POLICY) for record in records]


def run(engine: Engine, evs: Iterable[Event]) -> list[Alert]:
    correlator = engine.new_correlator()
    alerts: list[Alert] = []
    for event in evs:
        alerts.extend(engine.match_event(event, correlator))
    alerts.extend(engine.flush(correlator))
    return alerts


# -- scenarios: (rule id, attack, benign) ------------------------------------------------------

def logons(user: str, address: str, count: int, outcome: int = 4, step: float = 0.7,
           dcm4chee: bool = False) -> list[Event]:
    name = "dcm4chee_login.xml" if dcm4chee else "atna_user_authentication.xml"
    return events(atna(name, minutes(i * step), syslog=dcm4chee, user=user, address=address,
                       outcome=outcome) for i in range(count))


@cache
def transfers() -> tuple[Event, ...]:
    return tuple(events(patient_data(minutes(i / 6), "WS_RADIO_12", f"IPP-{i % 7}",
                                     event="110104", ae=True) for i in range(50)))


@cache
def queries() -> tuple[Event, ...]:
    return tuple(events(atna("atna_query.xml", minutes(i / 30), outcome=0, user="VIEWER_WS07",
                             address="10.12.7.70") for i in range(200)))


@cache
def adt_flood() -> tuple[Event, ...]:
    return tuple(events(hl7("hl7_adt_a08.hl7", T0 + timedelta(seconds=i / 6), app="GAM",
                            facility="CHSA", control=f"M{i:05d}", patient=f"IPP-{i:06d}")
                        for i in range(300)))


@cache
def pdq_flood() -> tuple[Event, ...]:
    return tuple(events(hl7("hl7_qbp_q22.hl7", T0 + timedelta(seconds=i * 1.5), app="PORTAIL",
                            control=f"Q{i:05d}", family="LEROY") for i in range(300)))


def acks(code: str, count: int, start: float = 0) -> list[Event]:
    return events(hl7("hl7_ack.hl7", minutes(start + i / 2), app="LABO", receiver="GAM",
                      control=f"A{code}{i:04d}", code=code, acked=f"M{i:05d}",
                      text="Unknown key identifier" if code != "AA" else "OK")
                  for i in range(count))


def fortigate_scan(src: str, count: int, action: str = "deny") -> list[Event]:
    return events(fortigate(minutes(i / 15), src, f"10.10.{i // 200}.{i % 200 + 1}", action)
                  for i in range(count))


def stormshield_scan(src: str, count: int, action: str = "block") -> list[Event]:
    return events(syslog("stormshield_filter.log", minutes(i / 15), src=src,
                         dst=f"10.10.3.{i + 1}", dport=445, action=action) for i in range(count))


def vpn_failures(addresses: list[str]) -> list[Event]:
    return events(syslog("fortigate_sslvpn_login_fail.log", minutes(i / 2), remip=address,
                         user=f"agent{i:02d}") for i, address in enumerate(addresses))


def ssh_failures(hosts: list[str]) -> list[Event]:
    return events(sshd(minutes(i / 5), host, f"Failed password for root from 203.0.113.9 "
                                             f"port {52000 + i} ssh2")
                  for i, host in enumerate(hosts))


Scenario = tuple[str, Callable[[], Iterable[Event]], Callable[[], Iterable[Event]]]
SCENARIOS: dict[str, Scenario] = {
    "atna_logon_failures_one_account": (
        rule("atna_user_authentication_failures", 1),
        lambda: logons("dr.petit", "10.12.6.31", 5),
        lambda: logons("dr.petit", "10.12.6.31", 4)
        + logons("dr.petit", "10.12.6.31", 1, outcome=0)
        + logons("dr.nguyen", "10.12.6.32", 5, step=3)),  # spread over 12 minutes
    "atna_logon_failures_dcm4chee_over_syslog": (
        rule("atna_user_authentication_failures", 1),
        lambda: logons("admin", "198.51.100.23", 5, dcm4chee=True),
        lambda: logons("admin", "198.51.100.23", 5, outcome=0, dcm4chee=True)),
    "atna_password_spraying": (
        rule("atna_user_authentication_failures", 2),
        lambda: [e for i in range(5) for e in logons(f"user{i}", "203.0.113.50", 1)],
        lambda: [e for i in range(4) for e in logons(f"user{i}", "203.0.113.50", 1)]),
    "atna_access_failures": (
        rule("atna_access_failures_repeated"),
        lambda: events(patient_data(minutes(i / 2), "interne.b", f"IPP-{i}", outcome=4)
                       for i in range(10)),
        lambda: events(patient_data(minutes(i / 2), "interne.b", f"IPP-{i}", outcome=4)
                       for i in range(9))
        + events(patient_data(minutes(i / 2), "interne.b", "IPP-1") for i in range(20))),
    "atna_bulk_transfer": (
        rule("atna_bulk_transfer"), transfers,
        lambda: list(transfers()[:49])
        + events(patient_data(minutes(i / 10), "CT_SCANNER_2", "IPP-9", event="110104",
                              action="C", ae=True) for i in range(60))),
    "atna_query_flood": (rule("atna_query_flood"), queries, lambda: queries()[:199]),
    "atna_mass_patient_access": (
        rule("atna_mass_patient_access"),
        lambda: events(patient_data(minutes(i * 0.7), "dr.roux", f"IPP-{i:04d}")
                       for i in range(20)),
        lambda: events(patient_data(minutes(i * 0.3), "dr.roux", f"IPP-{i % 19:04d}")
                       for i in range(40))  # a modality storing 25 patients' new studies:
        + events(patient_data(minutes(i / 2), "CT_SCANNER_2", f"IPP-{i:04d}", event="110104",
                              action="C", ae=True) for i in range(25))),
    "atna_export_usb": (
        rule("atna_export_removable_media"),
        lambda: events([atna("atna_export_media.xml", T0, user="dr.roux",
                             destination="usb:/media/KINGSTON", media_code="110030",
                             media_name="USB Disk Emulation")]),
        lambda: events([atna("atna_export_media.xml", T0, user="dr.roux",
                             destination="cd:/dev/sr0", media_code="110032", media_name="CD"),
                        raw(ATNA, (FIXTURES / "atna_export.xml").read_text("utf-8"), T0)])),
    "atna_audit_log_used": (
        rule("atna_audit_log_used"),
        lambda: events([atna("atna_audit_log_used.xml", T0, action="R", user="interne.b")]),
        lambda: events([atna("atna_audit_log_used.xml", T0, action="R", user="dpo.martin")])),
    "atna_audit_log_altered": (
        rule("atna_audit_log_altered"),
        lambda: events([atna("atna_audit_log_used.xml", T0, action="D", user="adm.pacs")]),
        lambda: events([atna("atna_audit_log_used.xml", T0, action="R", user="interne.b")])),
    "atna_audit_recording_stopped": (
        rule("atna_audit_recording_stopped"),
        lambda: events([security_alert(T0, "110133", "Audit Recording Stopped")]),
        lambda: events([security_alert(T0, "110134", "Audit Recording Started")])),
    "atna_node_authentication_failure": (
        rule("atna_node_authentication_failure"),
        lambda: events([security_alert(T0, "110126", "Node Authentication", outcome=4)]),
        lambda: events([security_alert(T0, "110126", "Node Authentication", outcome=0)])),
    "atna_node_authentication_failure_dcm4chee": (
        rule("atna_node_authentication_failure"),
        lambda: events([atna("dcm4chee_node_authentication.xml", T0, syslog=True, outcome=4,
                             address="10.99.0.13")]),
        lambda: events([atna("dcm4chee_node_authentication.xml", T0, syslog=True, outcome=0,
                             address="10.99.0.13")])),
    "atna_security_alert_failure": (
        rule("atna_security_alert_failure"),
        lambda: events([security_alert(T0, "110132", "Use of Restricted Function", 4)]),
        lambda: events([security_alert(T0, "110126", "Node Authentication", 4),
                        security_alert(T0, "110132", "Use of Restricted Function", 0)])),
    "atna_remote_service_started": (
        rule("atna_remote_service_started"),
        lambda: events([security_alert(T0, "110139", "Remote Service Operation Started")]),
        lambda: events([security_alert(T0, "110140", "Remote Service Operation Stopped")])),
    "atna_emergency_override": (
        rule("atna_emergency_override"),
        lambda: events([security_alert(T0, "110127", "Emergency Override Started")]),
        lambda: events([security_alert(T0, "110138", "Emergency Override Stopped")])),
    "hl7_adt_flood": (rule("hl7_message_flood"), adt_flood, lambda: adt_flood()[:299]),
    "hl7_ack_errors": (
        rule("hl7_ack_errors_repeated"),
        lambda: acks("AE", 10),
        lambda: acks("AE", 9) + acks("AA", 30, start=1)),
    "hl7_patient_query_flood": (
        rule("hl7_patient_query_flood"), pdq_flood, lambda: pdq_flood()[:299]),
    "fhir_failed_access": (
        rule("fhir_failed_access_repeated"),
        lambda: events(fhir(minutes(i / 3), agent="Device/app-portail", outcome=8)
                       for i in range(10)),
        lambda: events(fhir(minutes(i / 3), agent="Device/app-portail", outcome=8)
                       for i in range(9))
        + events(fhir(minutes(i / 3), agent="Device/app-portail") for i in range(20))),
    "fhir_mass_patient_access": (
        rule("fhir_mass_patient_access"),
        lambda: events(fhir(minutes(i / 6), entity=f"Patient/IPP-{i:04d}") for i in range(50)),
        lambda: events(fhir(minutes(i / 6), entity=f"Patient/IPP-{i % 49:04d}")
                       for i in range(60))),
    "fhir_bulk_export": (
        rule("fhir_bulk_export"),
        lambda: events([fhir(T0, agent="Device/entrepot-donnees", subtype="$export",
                             action="E", entity="Group/cohorte-diabete")]),
        lambda: events([fhir(T0), fhir(T0, subtype="search-type", action="E")])),
    "fortigate_sslvpn_brute_force": (
        rule("fortigate_sslvpn_brute_force"),
        lambda: vpn_failures(["198.51.100.77"] * 10),
        lambda: vpn_failures(["198.51.100.77"] * 9)
        + vpn_failures([f"198.51.100.{i}" for i in range(10)])),
    "firewall_internal_scan_fortigate": (
        rule("firewall_internal_scan"),
        lambda: fortigate_scan("10.12.4.100", 30),
        lambda: fortigate_scan("10.12.4.100", 29) + fortigate_scan("203.0.113.9", 40)),
    "firewall_internal_scan_stormshield": (
        rule("firewall_internal_scan"),
        lambda: stormshield_scan("10.20.0.5", 30),
        lambda: stormshield_scan("10.20.0.5", 40, action="pass")),
    "firewall_internal_scan_cef": (
        rule("firewall_internal_scan"),
        lambda: events(panos(minutes(i / 15), "192.168.1.20", f"10.10.4.{i + 1}", "deny")
                       for i in range(30)),
        lambda: events(panos(minutes(i / 15), "192.168.1.20", f"10.10.4.{i + 1}", "allow")
                       for i in range(40))),
    "firewall_remote_access_port": (
        rule("firewall_remote_access_tool"),
        lambda: events([fortigate(T0, "10.30.1.44", "203.0.113.200", "accept", 5938,
                                  "TCP/5938")]),
        lambda: events([fortigate(T0, "10.30.1.44", "203.0.113.200", "deny", 5938, "TCP/5938"),
                        fortigate(T0, "10.30.1.44", "203.0.113.201", "accept", 443, "HTTPS")])),
    "firewall_remote_access_app_cef": (
        rule("firewall_remote_access_tool"),
        lambda: events([panos(T0, "10.30.1.44", "203.0.113.200", "allow", 443,
                              "teamviewer-base")]),
        lambda: events([panos(T0, "10.30.1.44", "203.0.113.200", "allow", 443, "ssl")])),
    "linux_ssh_brute_force": (
        rule("linux_sshd_brute_force"),
        lambda: ssh_failures(["pacs-lnx01"] * 10),
        lambda: ssh_failures(["pacs-lnx01"] * 9)
        + events([sshd(minutes(3), "pacs-lnx01", "Accepted publickey for admin from "
                                                 "10.12.9.14 port 50022 ssh2: ED25519 SHA256:x")])
        + ssh_failures([f"lnx{i:02d}" for i in range(10)])),
}


# -- tests -------------------------------------------------------------------------------------

def test_pack_loads_and_every_rule_is_routed(engine: Engine) -> None:
    assert len(RULE_FILES) >= 20
    inactive = [(s.rule.title, s.notes) for s in engine.statuses if not s.active]
    assert inactive == []


def test_rule_ids_are_fresh_unique_uuids() -> None:
    ids = [str(d["id"]) for path in RULE_FILES for d in _documents(path)]
    assert len(ids) == len(set(ids))
    assert all(uuid.UUID(i).version == 4 for i in ids)


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_metadata(rule_file: Path) -> None:
    for doc in _documents(rule_file):
        assert doc.get("level") in {"informational", "low", "medium", "high", "critical"}
        assert any(str(t).startswith("attack.t") for t in doc.get("tags") or [])
        for key in ("title", "id", "status", "description", "references", "date",
                    "falsepositives"):
            assert doc.get(key), f"{rule_file.name}: '{doc.get('title')}' lacks {key}"
        assert doc.get("author") == "Hygie"
        assert all(str(r).startswith("https://") for r in doc["references"])


def test_every_alerting_rule_has_a_scenario() -> None:
    assert alerting_ids() == {rule_id for rule_id, _, _ in SCENARIOS.values()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rule_fires_on_attack(engine: Engine, name: str) -> None:
    rule_id, attack, _ = SCENARIOS[name]
    alerts = run(engine, attack())
    assert rule_id in {a.rule_id for a in alerts}, f"{name}: no alert"
    assert all(a.level != "informational" for a in alerts), "a base rule raised an alert"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rule_quiet_on_benign(engine: Engine, name: str) -> None:
    rule_id, _, benign = SCENARIOS[name]
    fired = [a for a in run(engine, benign()) if a.rule_id == rule_id]
    assert fired == [], f"{name}: fired on the benign case"


def test_correlation_alert_names_its_group_and_count(engine: Engine) -> None:
    alerts = run(engine, fortigate_scan("10.12.4.100", 30))
    scan = next(a for a in alerts if a.rule_id == rule("firewall_internal_scan"))
    assert scan.matched["src_ip"] == "10.12.4.100" and scan.matched["count"] == 30
    spray = next(a for a in run(engine, SCENARIOS["atna_password_spraying"][1]())
                 if a.kind == "correlation")
    assert spray.matched == {"NetworkAccessPointID": "203.0.113.50", "count": 5}


def test_audit_log_rule_without_reviewers_fires_for_everyone() -> None:
    default = Engine.from_paths([PACK_DIR / "atna_audit_log_used.yml"])  # shipped placeholders
    assert any("pacs_audit_reviewers" in note for s in default.statuses for note in s.notes)
    reads = events([atna("atna_audit_log_used.xml", T0, action="R", user="dpo.martin")])
    assert {a.rule_id for a in run(default, reads)} == {rule("atna_audit_log_used")}


def test_patient_identity_never_reaches_the_fields() -> None:
    event = events([atna("atna_patient_data.xml", T0, syslog=True, event_id="110103",
                         event_name="DICOM Instances Accessed", action="R", outcome=0,
                         user="dr.roux", address="10.12.6.31", user_type="113871",
                         user_type_name="Person ID", patient="IPP-0001", study=1)])[0]
    text = repr(event.fields)
    assert "LEROY" not in text and "IPP-0001" not in text
    assert str(event.fields["PatientID"]).startswith("h:")


# -- the syslog demo ---------------------------------------------------------------------------

DEMO = ROOT / "src" / "hygie" / "demo" / "hospital_morning_syslog.log"
DEMO_ALERTS = {  # rule -> alerts it raises on the demo (a correlation restarts after one)
    rule("fortigate_sslvpn_brute_force"): 3,  # 30 failures from one address
    rule("firewall_internal_scan"): 2,  # 60 blocked destinations
    rule("linux_sshd_brute_force"): 1,  # 15 failures
    rule("atna_user_authentication_failures", 1): 1,  # 6 failures of 'admin'
    rule("atna_mass_patient_access"): 3,  # 70 patients
    rule("atna_bulk_transfer"): 1,  # 70 studies
    rule("firewall_remote_access_tool"): 1,  # TeamViewer
}


def test_syslog_demo_raises_the_expected_alerts() -> None:
    engine = Engine.from_paths([], include_packs=True)
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    records = (RawRecord("demo", "demo", SYSLOG, line.encode(), T0.timestamp() + n,
                         "10.12.0.5:51514") for n, line in enumerate(lines))
    found: dict[str, int] = {}
    for alert in run(engine, events(records)):
        found[alert.rule_id] = found.get(alert.rule_id, 0) + 1
    assert found == DEMO_ALERTS


def test_syslog_demo_is_what_its_generator_writes() -> None:
    from hygie.demo.generate_syslog_demo import SEED, SyslogMorning

    assert DEMO.read_text(encoding="utf-8") == "\n".join(SyslogMorning(SEED).build()) + "\n"

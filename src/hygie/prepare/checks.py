"""Names of the telemetry checks a framework question may cite in its ``evidence`` key.

Kept apart from ``evidence.py`` so that loading a framework file does not need the stores."""

from __future__ import annotations

SYSMON_COVERAGE = "sysmon_coverage"
SILENT_SOURCES = "silent_sources"
VPN_MFA = "vpn_mfa"
BACKUP_SUCCESS = "backup_success"
RESTORE_TEST = "restore_test"
INTERNET_EXPOSURE = "internet_exposure"  # needs the exposure data of the intel stage (later)
KEV_AGE = "kev_age"  # needs the vulnerability data of the intel stage (later)

CHECK_NAMES = {SYSMON_COVERAGE, SILENT_SOURCES, VPN_MFA, BACKUP_SUCCESS, RESTORE_TEST,
               INTERNET_EXPOSURE, KEV_AGE}

"""Names of the telemetry checks a framework question may cite in its ``evidence`` key.

Kept apart from ``evidence.py`` so that loading a framework file does not need the stores."""

from __future__ import annotations

SYSMON_COVERAGE = "sysmon_coverage"
SILENT_SOURCES = "silent_sources"
VPN_MFA = "vpn_mfa"
BACKUP_SUCCESS = "backup_success"
RESTORE_TEST = "restore_test"
ASSET_COVERAGE = "asset_coverage"  # from the asset inventory of the intel stage
INTERNET_EXPOSURE = "internet_exposure"  # from the assets flagged exposed and their services
KEV_AGE = "kev_age"  # from the early warnings (KEV catalog against the assets)

CHECK_NAMES = {SYSMON_COVERAGE, SILENT_SOURCES, VPN_MFA, BACKUP_SUCCESS, RESTORE_TEST,
               ASSET_COVERAGE, INTERNET_EXPOSURE, KEV_AGE}

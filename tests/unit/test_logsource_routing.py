"""Log-source routing of the non-Windows sources (mappings/healthcare.yml, mappings/syslog.yml)
and how mapping files are found: the default folder, a user's file or a user's folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hygie.detect.engine import Engine
from hygie.normalize.logsources import DEFAULT_MAPPING, LogSource, LogSourceRouter, MappingError

ROUTER = LogSourceRouter.from_file()
RULE = "title: t\nlogsource: {product: linux}\ndetection: {sel: {message|contains: x}, condition: sel}\n"


def provided(fields: dict[str, object]) -> set[str]:
    return {str(ls) for ls in ROUTER.route(fields).logsources}


def test_healthcare_sources() -> None:
    assert provided({"LogSource": "dicom_atna", "EventID": "110114"}) == {"product=dicom/service=atna"}
    assert provided({"LogSource": "hl7v2"}) == {"product=hl7"}
    assert provided({"LogSource": "fhir_audit"}) == {"product=fhir/service=audit"}
    assert ROUTER.is_mapped(LogSource("dicom")) and ROUTER.is_mapped(LogSource("fhir"))


def test_linux_daemons_by_app_name() -> None:
    assert provided({"app_name": "sshd"}) == {"product=linux", "product=linux/service=syslog",
                                              "product=linux/service=auth",
                                              "product=linux/service=sshd"}
    assert "product=linux/service=cron" in provided({"app_name": "CRON"})
    assert "product=linux/service=sudo" in provided({"app_name": "sudo"})
    assert "product=linux/service=auditd" in provided({"app_name": "audisp-syslog"})
    assert "product=linux" in provided({"app_name": "systemd-logind"})
    assert provided({"app_name": "nginx"}) == set() and provided({"app_name": None}) == set()


def test_firewalls_with_sigmahq_field_names() -> None:
    fortigate = ROUTER.route({"devid": "FG200FT922900000", "type": "traffic"})
    assert {str(ls) for ls in fortigate.logsources} == {"product=fortigate", "category=firewall"}
    assert ("dstport", "dst_port") in fortigate.aliases and ("srcip", "src_ip") in fortigate.aliases
    assert provided({"devid": "FG200FT922900000", "type": "event"}) == {
        "product=fortigate", "product=fortigate/service=event"}
    stormshield = ROUTER.route({"logtype": "filter", "fw": "SN510-CHSA"})
    assert {str(ls) for ls in stormshield.logsources} == {"category=firewall"}
    assert ("src", "src_ip") in stormshield.aliases
    cef = ROUTER.route({"cef.product": "PAN-OS"})
    assert ("act", "action") in cef.aliases and ("dpt", "dst_port") in cef.aliases
    assert provided({"cef.product": "Deep Security Agent"}) == set()


def test_windows_routing_is_unchanged() -> None:
    route = ROUTER.route({"Channel": "Security", "EventID": 4688})
    assert "product=windows/category=process_creation" in {str(ls) for ls in route.logsources}
    assert ("NewProcessName", "Image") in route.aliases
    assert provided({"Channel": "Security", "EventID": 4688, "app_name": "sshd"}) >= {
        "product=windows", "product=linux"}


def test_one_file_or_a_folder_can_replace_the_defaults(tmp_path: Path) -> None:
    only_windows = LogSourceRouter.from_file(DEFAULT_MAPPING / "windows.yml")
    assert not only_windows.is_mapped(LogSource("linux"))
    copy = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPING, copy)
    (copy / "syslog.yml").unlink()
    mine = LogSourceRouter.from_file(copy)
    assert mine.is_mapped(LogSource("dicom")) and not mine.is_mapped(LogSource("linux"))
    with pytest.raises(MappingError, match="no log-source mapping"):
        LogSourceRouter.from_file(tmp_path / "mappings" / "..")


def test_engine_mapping_option_takes_a_file_or_a_folder(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(RULE, encoding="utf-8")
    default = Engine.from_paths([tmp_path / "rule.yml"])
    windows = Engine.from_paths([tmp_path / "rule.yml"], mapping=DEFAULT_MAPPING / "windows.yml")
    folder = Engine.from_paths([tmp_path / "rule.yml"], mapping=DEFAULT_MAPPING)
    assert [s.active for s in (default.statuses + windows.statuses + folder.statuses)] == [
        True, False, True]

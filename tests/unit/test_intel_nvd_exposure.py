"""NVD CVE API 2.0 records (read, malformed ones reported, applicability with AND/negated nodes and
"running on" platforms) and internet-exposure scans (nmap XML, Shodan host JSON and banner lines,
risky services), on fixtures written after the public formats (``tests/fixtures/intel``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.intel import cpe, exposure, nvd
from hygie.intel.cpe import Tri
from hygie.intel.feeds import FeedError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"


@pytest.fixture(scope="module")
def records() -> dict[str, nvd.CveRecord]:
    found, _problems = nvd.read(str(FIXTURES / "nvd"))
    return {r.cve_id: r for r in found}


def asset(vendor: str, product: str, version: str = "", cpe_name: str = "") -> cpe.Name:
    return nvd.asset_name(cpe_name, vendor, product, version)


def test_a_folder_of_records_is_read_and_malformed_ones_are_reported_with_their_place() -> None:
    found, problems = nvd.read(str(FIXTURES / "nvd"))
    assert [r.cve_id for r in found] == ["CVE-2024-21762", "CVE-2021-44228", "CVE-2023-4966",
                                         "CVE-2026-10001", "CVE-2026-10002"]
    assert [p.where.split(": ", 1)[1] for p in problems] == [
        "vulnerabilities[2] CVE-2026-10003", "vulnerabilities[3]", "vulnerabilities[4] CVE-2026-10004"]
    assert "cpeMatch[0]" in problems[0].reason and "'('" in problems[0].reason
    assert "XOR" in problems[2].reason
    fortios = found[0]
    assert (fortios.severity, fortios.score) == ("critical", 9.8) and fortios.description.startswith("A out")
    assert fortios.products() == {("fortinet", "fortios"), ("fortinet", "fortiproxy")}


def test_a_file_that_is_no_nvd_document_fails_alone(tmp_path) -> None:
    (tmp_path / "bad.json").write_text('{"CVE_Items": []}')
    with pytest.raises(FeedError, match="not an NVD CVE API 2.0 document"):
        nvd.read(str(tmp_path / "bad.json"))
    (tmp_path / "good.json").write_bytes((FIXTURES / "nvd" / "kev-cves.json").read_bytes())
    found, problems = nvd.read(str(tmp_path))  # in a folder: reported, the rest read
    assert len(found) == 3 and len(problems) == 1 and problems[0].where.endswith("bad.json")


def test_version_ranges_decide(records) -> None:
    fortios = records["CVE-2024-21762"].configurations
    verdict = nvd.evaluate(fortios, asset("", "", "", "cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*"), [])
    assert verdict.result is Tri.YES and verdict.matched == [
        {"criteria": "cpe:2.3:o:fortinet:fortios", "range": ">= 7.2.0, < 7.2.7", "result": "yes"}]
    assert nvd.evaluate(fortios, asset("Fortinet", "FortiOS", "7.2.7"), []).result is Tri.NO
    assert nvd.evaluate(fortios, asset("Fortinet", "FortiOS", "7.4.2"), []).result is Tri.YES
    unknown = nvd.evaluate(fortios, asset("Fortinet", "FortiOS"), [])
    assert unknown.result is Tri.MAYBE and len(unknown.matched) == 6 and unknown.unknown  # FortiOS, not FortiProxy
    log4j = records["CVE-2021-44228"].configurations
    assert nvd.evaluate(log4j, asset("apache", "log4j", "2.14.1"), []).result is Tri.YES
    assert nvd.evaluate(log4j, asset("apache", "log4j", "2.12.2"), []).result is Tri.NO  # the fixed release
    assert nvd.evaluate(log4j, asset("apache", "log4j", "2.17.1"), []).result is Tri.NO
    # a fixed version with an update: 2.0-beta9 is named, 2.0 with another update is not
    assert nvd.evaluate(log4j, asset("", "", "", "cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*"), []).result is Tri.YES
    assert nvd.evaluate(log4j, asset("", "", "", "cpe:2.3:a:apache:log4j:2.0:beta2:*:*:*:*:*:*"), []).result is Tri.NO
    netscaler = records["CVE-2023-4966"].configurations  # versions that are no PEP 440
    assert nvd.evaluate(netscaler, asset("Citrix", "NetScaler Gateway", "13.1-48.47"), []).result is Tri.YES
    assert nvd.evaluate(netscaler, asset("Citrix", "NetScaler Gateway", "13.1-49.15"), []).result is Tri.NO


def test_running_on_a_platform_is_looked_for_on_the_same_host(records) -> None:
    pacs = records["CVE-2026-10001"].configurations
    arc = asset("dcm4che", "dcm4chee-arc-light", "5.31.0")
    unknown = nvd.evaluate(pacs, arc, [])
    assert unknown.result is Tri.MAYBE and "runs on cpe:2.3:o:microsoft:windows" in unknown.unknown[0]
    windows = asset("", "", "", "cpe:2.3:o:microsoft:windows_server_2019:-:*:*:*:*:*:*:*")
    assert nvd.evaluate(pacs, arc, [windows]).result is Tri.NO  # another OS is known
    windows_10 = asset("", "", "", "cpe:2.3:o:microsoft:windows:10:*:*:*:*:*:*:*")
    assert nvd.evaluate(pacs, arc, [windows_10]).result is Tri.YES
    linux = asset("", "", "", "cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*")
    assert nvd.evaluate(pacs, arc, [linux]).result is Tri.NO
    assert nvd.evaluate(pacs, asset("dcm4che", "dcm4chee-arc-light", "5.32.0"), []).result is Tri.NO


def test_negated_nodes_and_quoted_versions(records) -> None:
    pump = records["CVE-2026-10002"].configurations
    assert nvd.evaluate(pump, asset("", "", "", r"cpe:2.3:o:example_medical:pump_firmware:3.1\(2\):*:*:*:*:*:*:*"),
                        []).result is Tri.YES
    assert nvd.evaluate(pump, asset("Example Medical", "pump firmware", "3.1(3)"), []).result is Tri.NO
    assert nvd.evaluate(pump, asset("example_medical", "pump_gateway", "1.9"), []).result is Tri.YES
    assert nvd.evaluate(pump, asset("example_medical", "pump_gateway", "2.0"), []).result is Tri.NO  # negated


def test_an_inventory_name_is_compared_without_case_or_punctuation() -> None:
    assert nvd.name_key("Node.js") == nvd.keyed(cpe.parse(r"cpe:2.3:a:nodejs:node\.js:*:*:*:*:*:*:*:*")).product.literal
    named = asset("Fortinet", "FortiOS", "7.0.1", "cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*")
    assert named.version.literal == "7.0.1"  # the version column fills a CPE version left ANY


# -- exposure ------------------------------------------------------------------------------------
def test_nmap_xml_keeps_open_ports_of_public_addresses() -> None:
    kind, hosts, problems = exposure.read_scan(str(FIXTURES / "scan-nmap.xml"))
    assert kind == "nmap"
    assert {h.ip: [(s.port, s.risk) for s in h.services] for h in hosts} == {
        "192.0.2.1": [(443, "vpn-portal")], "192.0.2.20": [(104, "dicom"), (11112, "dicom"), (443, "")]}
    assert hosts[0].hostnames == ["vpn.chu-a.example"] and hosts[0].services[0].cpe == "cpe:/o:fortinet:fortios"
    reasons = {p.where.rsplit(": ", 1)[1]: p.reason for p in problems}
    assert "no port number" in reasons["host 4"] and "not a public address" in reasons["host 3 (10.20.0.5)"]


def test_scan_service_json_a_host_document_and_banner_lines() -> None:
    kind, [host], problems = exposure.read_scan(str(FIXTURES / "scan-shodan.json"))
    assert kind == "shodan" and not problems and host.ip == "198.51.100.7"
    assert [(s.port, s.service, s.risk, s.severity) for s in host.services] == [
        (443, "https", "vpn-portal", "medium"), (3389, "rdp", "rdp", "high"),
        (5938, "teamviewer", "remote-maintenance", "high")]
    assert host.services[0].cves == ["CVE-2023-4966"]
    _kind, hosts, problems = exposure.read_scan(str(FIXTURES / "scan-banners.jsonl"))
    assert [(h.ip, [s.risk for s in h.services]) for h in hosts] == [("203.0.113.50", ["smb", "database"])]
    assert sorted(p.where.rsplit(":", 1)[-1].split(" ")[0] for p in problems) == ["3", "4", "5"]


def test_unreadable_scans_fail_with_a_reason(tmp_path) -> None:
    (tmp_path / "x.xml").write_text("<nmaprun><host>")
    with pytest.raises(FeedError, match="not well-formed XML"):
        exposure.read_scan(str(tmp_path / "x.xml"))
    (tmp_path / "bomb.xml").write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><nmaprun>&a;</nmaprun>')
    with pytest.raises(FeedError):  # defusedxml refuses entities
        exposure.read_scan(str(tmp_path / "bomb.xml"))
    (tmp_path / "r.xml").write_text("<report/>")
    with pytest.raises(FeedError, match="not an nmap XML report"):
        exposure.read_scan(str(tmp_path / "r.xml"))
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(FeedError, match="neither nmap XML nor scan JSON"):
        exposure.read_scan(str(tmp_path / "t.txt"))


def test_risky_services_are_data_with_reasons_in_both_languages() -> None:
    assert {"rdp", "smb", "telnet", "vnc", "dicom", "remote-maintenance", "vpn-portal", "database"} <= {
        r.id for r in exposure.rules()}
    assert all(r.why["fr"] and r.why["en"] and r.label["fr"] for r in exposure.rules())
    assert exposure.rule("vpn-portal").with_kev == "critical"  # type: ignore[union-attr]
    assert exposure.classify(exposure.Service(13389, "tcp", "ms-wbt-server")).id == "rdp"  # type: ignore[union-attr]
    assert exposure.classify(exposure.Service(8443, "tcp", "https", "AnyDesk relay")).id == "remote-maintenance"  # type: ignore[union-attr]
    assert exposure.classify(exposure.Service(443, "tcp", "https", "nginx")) is None
    assert exposure.classify(exposure.Service(3389, "udp")).id == "rdp"  # type: ignore[union-attr]
    assert exposure.classify(exposure.Service(445, "udp")) is None
    assert not exposure.public("10.1.2.3") and not exposure.public("fe80::1") and exposure.public("192.0.2.1")
    assert not exposure.public("::ffff:192.168.1.1")


def test_services_typed_in_the_console() -> None:
    declared = exposure.parse_declared("443/tcp https, 3389\n161/udp snmp")
    assert [(s["port"], s["transport"], s["risk"]) for s in declared] == [
        (443, "tcp", ""), (3389, "tcp", "rdp"), (161, "udp", "snmp")]
    assert exposure.parse_declared("") == []
    for bad in ("http", "70000", "22/icmp"):
        with pytest.raises(ValueError, match="write a port"):
            exposure.parse_declared(bad)

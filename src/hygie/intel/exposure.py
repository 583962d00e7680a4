"""Internet exposure from scans of a hospital's public addresses: nmap XML (``-oX``) and the JSON
of internet-scan services (Shodan's host document ``{"ip_str", "data": [banner...]}``, a list of
them, or its JSON-lines banner downloads ``{"ip_str", "port", "transport", ...}`` per line).

Each open service is kept on the asset with that address (an address no asset has becomes
an asset of its own, source ``scan``), and flagged when it is a risky service of
``exposure.yml`` (RDP, SMB, DICOM, remote-maintenance tools, VPN portals...). A later scan of
an address closes the services it no longer sees. Private and reserved addresses are not
internet exposure: they are reported and skipped, like malformed hosts (with their place)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import orjson
import yaml
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from hygie.intel.feeds import FeedError, fetch
from hygie.intel.indicators import Problem
from hygie.intel.nvd import name_key

RULES_FILE = Path(__file__).with_name("exposure.yml")
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(slots=True)
class Service:
    port: int
    transport: str = "tcp"
    service: str = ""
    product: str = ""
    version: str = ""
    cpe: str = ""
    cves: list[str] = field(default_factory=list)
    risk: str = ""
    severity: str = ""


@dataclass(slots=True)
class ScannedHost:
    ip: str
    where: str
    hostnames: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rule:
    """One risky service of ``exposure.yml``."""

    id: str
    ports: frozenset[str]
    names: frozenset[str]
    products: tuple[str, ...]
    severity: str
    with_kev: str | None
    label: dict[str, str]
    why: dict[str, str]


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    """The risky services, checked once (a broken data file is a bug: it raises)."""
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    found = []
    for rule_id, entry in doc["services"].items():
        severity = entry["severity"]
        if severity not in SEVERITIES or entry.get("with_kev", severity) not in SEVERITIES:
            raise ValueError(f"{RULES_FILE}: {rule_id}: severity must be one of {SEVERITIES}")
        if not {"en", "fr"} <= set(entry["why"]) or not {"en", "fr"} <= set(entry["label"]):
            raise ValueError(f"{RULES_FILE}: {rule_id}: label and why need 'en' and 'fr'")
        found.append(Rule(rule_id, frozenset(str(p).lower() for p in entry.get("ports", [])),
                          frozenset(str(n).lower() for n in entry.get("names", [])),
                          tuple(name_key(p) for p in entry.get("products", [])), severity,
                          entry.get("with_kev"), dict(entry["label"]), dict(entry["why"])))
    return tuple(found)


def rule(rule_id: str) -> Rule | None:
    return next((r for r in rules() if r.id == rule_id), None)


def classify(service: Service) -> Rule | None:
    """The first risky-service entry the service meets: port, then service name, then product."""
    port = f"{service.port}/{service.transport}"
    name = service.service.lower()
    product = f"_{name_key(service.product + ' ' + service.cpe.replace(':', ' '))}_"
    for candidate in rules():
        if port in candidate.ports or (name and name in candidate.names) \
                or any(f"_{keyword}_" in product for keyword in candidate.products):
            return candidate
    return None


INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "fc00::/7", "fe80::/10", "::1/128", "::/128", "ff00::/8"))


def public(ip: str) -> bool:
    """Not a private, shared (CGNAT), loopback, link-local or multicast address. The
    documentation ranges (192.0.2.0/24...) count as public: examples and tests stand in
    public addresses with them."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not any(address.version == n.version and address in n for n in INTERNAL)


def read_scan(location: str) -> tuple[str, list[ScannedHost], list[Problem]]:
    """(source kind ``nmap`` or ``shodan``, hosts with open services, problems)."""
    data = fetch.read(location)
    start = data.lstrip()[:1]
    if start == b"<":
        hosts, problems = read_nmap(data, location)
        kind = "nmap"
    elif start in (b"{", b"["):
        hosts, problems = read_scan_json(data, location)
        kind = "shodan"
    else:
        raise FeedError(f"{location}: neither nmap XML nor scan JSON")
    kept = []
    for host in hosts:
        if not public(host.ip):
            problems.append(Problem(host.where, f"{host.ip} is not a public address: an internal scan is "
                                                "no internet exposure (skipped)"))
            continue
        for service in host.services:
            found = classify(service)
            service.risk, service.severity = (found.id, found.severity) if found else ("", "")
        kept.append(host)
    return kind, _merged(kept), problems


def _merged(hosts: list[ScannedHost]) -> list[ScannedHost]:
    """One host per address (JSON lines give one banner per line), one service per port."""
    by_ip: dict[str, ScannedHost] = {}
    for host in hosts:
        into = by_ip.setdefault(host.ip, ScannedHost(host.ip, host.where))
        into.hostnames += [h for h in host.hostnames if h not in into.hostnames]
        seen = {(s.port, s.transport) for s in into.services}
        into.services += [s for s in host.services if (s.port, s.transport) not in seen]
    return list(by_ip.values())


def _text(value: Any, size: int) -> str:
    """A scanner's text as stored: a string, without NUL characters, cut to its column."""
    return str(value or "").replace("\x00", "")[:size]


# -- nmap --------------------------------------------------------------------------------------
def read_nmap(data: bytes, location: str) -> tuple[list[ScannedHost], list[Problem]]:
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise FeedError(f"{location}: not well-formed XML ({exc})") from None
    if root.tag != "nmaprun":
        raise FeedError(f"{location}: not an nmap XML report (root <{root.tag}>, expected <nmaprun>)")
    hosts, problems = [], []
    for number, host in enumerate(root.iter("host"), 1):
        where = f"{location}: host {number}"
        try:
            found = _nmap_host(host, where)
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        if found is not None:
            hosts.append(found)
    return hosts, problems


def _nmap_host(host: Element, where: str) -> ScannedHost | None:
    status = host.find("status")
    if status is not None and status.get("state") != "up":
        return None
    address = next((a.get("addr", "") for a in host.findall("address")
                    if a.get("addrtype") in ("ipv4", "ipv6")), "")
    if not address:
        raise ValueError("no ipv4/ipv6 <address>")
    found = ScannedHost(str(ipaddress.ip_address(address)), f"{where} ({address})",
                        [_text(h.get("name"), 255) for h in host.iter("hostname") if h.get("name")])
    for port in host.iter("port"):
        state = port.find("state")
        if state is None or state.get("state") != "open":
            continue
        number, protocol = port.get("portid", ""), port.get("protocol", "tcp")
        if not number.isdigit() or not 0 < int(number) < 65536 or protocol not in ("tcp", "udp", "sctp"):
            raise ValueError(f"port {number!r}/{protocol!r} is no port number and protocol")
        service = port.find("service")
        attrs = service.attrib if service is not None else {}
        cpes = [c.text or "" for c in service.findall("cpe")] if service is not None else []
        product = " ".join(p for p in (attrs.get("product", ""), attrs.get("extrainfo", "")) if p)
        found.services.append(Service(int(number), protocol[:4], _text(attrs.get("name"), 100), _text(product, 200),
                                      _text(attrs.get("version"), 100), _text(cpes[0] if cpes else "", 500)))
    return found


# -- internet-scan JSON (Shodan's shapes) ---------------------------------------------------------
def read_scan_json(data: bytes, location: str) -> tuple[list[ScannedHost], list[Problem]]:
    problems: list[Problem] = []
    try:
        doc = orjson.loads(data)
        items = doc if isinstance(doc, list) else [doc]
        places = [f"{location}: [{i}]" if isinstance(doc, list) else location for i in range(len(items))]
    except orjson.JSONDecodeError:
        items, places = [], []
        for number, line in enumerate(data.splitlines(), 1):  # JSON lines: a banner a line
            if not line.strip():
                continue
            try:
                items.append(orjson.loads(line))
                places.append(f"{location}:{number}")
            except orjson.JSONDecodeError as exc:
                problems.append(Problem(f"{location}:{number}", f"not JSON ({exc})"))
        if not items and problems:
            raise FeedError(f"{location}: not JSON ({problems[0].reason})") from None
    hosts = []
    for item, where in zip(items, places):
        try:
            hosts.append(_scan_host(item, where))
        except (ValueError, TypeError) as exc:
            problems.append(Problem(where, str(exc)))
    return hosts, problems


def _scan_host(item: Any, where: str) -> ScannedHost:
    if not isinstance(item, dict) or not item.get("ip_str"):
        raise ValueError("an entry needs 'ip_str' (a host with 'data', or one banner with 'port')")
    ip = str(ipaddress.ip_address(str(item["ip_str"])))
    names = item.get("hostnames") if isinstance(item.get("hostnames"), list) else []
    host = ScannedHost(ip, f"{where} ({ip})", [_text(h, 255) for h in names if h][:20])
    banners = item["data"] if isinstance(item.get("data"), list) else [item]
    for index, banner in enumerate(banners):
        if not isinstance(banner, dict):
            raise ValueError(f"data[{index}] is not an object")
        port, transport = banner.get("port"), str(banner.get("transport") or "tcp").lower()
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536 \
                or transport not in ("tcp", "udp"):
            raise ValueError(f"data[{index}]: 'port' {port!r}/{transport!r} is no port number and transport")
        cpes = banner.get("cpe23") or banner.get("cpe") or []
        vulns = banner.get("vulns") or {}
        module = str((banner.get("_shodan") or {}).get("module", "")) if isinstance(banner.get("_shodan"), dict) else ""
        host.services.append(Service(port, transport, _text(module, 100), _text(banner.get("product"), 200),
                                     _text(banner.get("version"), 100),
                                     _text(cpes[0] if isinstance(cpes, list) and cpes else "", 500),
                                     sorted(str(v) for v in vulns)[:100] if isinstance(vulns, (dict, list)) else []))
    return host


def as_dict(host: ScannedHost) -> dict[str, Any]:
    """A scanned host as the exposure store takes it."""
    return {"ip": host.ip, "hostnames": host.hostnames,
            "services": [{"port": s.port, "transport": s.transport, "service": s.service, "product": s.product,
                          "version": s.version, "cpe": s.cpe, "cves": s.cves, "risk": s.risk,
                          "severity": s.severity} for s in host.services]}


def parse_declared(text: str) -> list[dict[str, Any]]:
    """Services typed in the console, ``443/tcp https, 3389, 161/udp snmp`` (port, optional
    transport, optional service name; comma or line separated), classified like a scan's;
    ``ValueError`` names the entry that is not one."""
    services: dict[tuple[int, str], dict[str, Any]] = {}
    for entry in (e.strip() for e in text.replace("\n", ",").split(",")):
        if not entry:
            continue
        head, _, name = entry.partition(" ")
        number, _, transport = head.partition("/")
        transport = (transport or "tcp").lower()
        if not number.isdigit() or not 0 < int(number) < 65536 or transport not in ("tcp", "udp"):
            raise ValueError(f"{entry!r}: write a port as 3389, 3389/tcp or 161/udp snmp")
        service = Service(int(number), transport, name.strip()[:100])
        found = classify(service)
        service.risk, service.severity = (found.id, found.severity) if found else ("", "")
        services[(service.port, transport)] = {"port": service.port, "transport": transport,
                                               "service": service.service, "risk": service.risk,
                                               "severity": service.severity, "cves": []}
    if len(services) > 200:
        raise ValueError("at most 200 services per asset")
    return list(services.values())

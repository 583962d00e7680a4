"""Observables of an alert (hosts, users, IPs, hashes, files, domains), read from the event's
fields by what each field holds, so that a case lists what to search for and share."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

# field name -> observable kind; Windows/Sysmon names first, then ECS-like and syslog names
FIELD_KINDS: dict[str, str] = {
    "Computer": "host", "host": "host", "Hostname": "host", "WorkstationName": "host",
    "User": "user", "TargetUserName": "user", "SubjectUserName": "user", "user.name": "user",
    "AccountName": "user",
    "IpAddress": "ip", "SourceIp": "ip", "DestinationIp": "ip", "src": "ip", "dst": "ip",
    "srcip": "ip", "dstip": "ip", "source.ip": "ip", "destination.ip": "ip", "ClientIP": "ip",
    "Image": "file", "ParentImage": "file", "TargetFilename": "file", "ImageLoaded": "file",
    "QueryName": "domain", "DestinationHostname": "domain", "url.domain": "domain",
    "md5": "hash", "sha1": "hash", "sha256": "hash", "Hash": "hash",
}
HASH_PART = re.compile(r"(?:MD5|SHA1|SHA256|IMPHASH)=([0-9A-Fa-f]{32,64})")
NOT_A_VALUE = {"", "-", "::1", "127.0.0.1", "localhost", "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE"}


def extract(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, value) pairs found in one normalised event (duplicates possible)."""
    for name, value in event.items():
        if name == "Hashes" and isinstance(value, str):
            for digest in HASH_PART.findall(value):
                yield "hash", digest.lower()
            continue
        kind = FIELD_KINDS.get(name)
        if kind is None or not isinstance(value, (str, int)):
            continue
        text = str(value).strip()
        if text in NOT_A_VALUE or text.endswith("$"):  # machine accounts are noise
            continue
        if kind == "ip":
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if address.is_loopback or address.is_unspecified:
                continue
            text = str(address)
        yield kind, text[:1000]

"""One syslog message (bytes) to a typed :class:`SyslogMessage` and to flat fields.

Senders are sloppy, and a SOC must not drop their logs, so the parser is lenient: RFC 5424,
RFC 3164 and its common variants (no PRI, no hostname, an RFC 3339 timestamp as rsyslog's
forwarding templates send, Cisco's ``seq: *Mmm dd yyyy hh:mm:ss.mmm: %FAC-SEV-MNEMONIC:``)
are recognised; anything else keeps its PRI and becomes format ``"unknown"`` with the whole
text as the message. Only what cannot be a syslog message is refused with
:class:`~hygie.core.errors.RecordError`: an empty payload or a broken PRI.

Choices a reader should know:

* A payload that is not UTF-8 is decoded with ``errors="replace"`` (U+FFFD for bad bytes);
  the raw bytes stay in the record on the bus.
* RFC 3164 timestamps carry no year and no zone. They are taken as UTC (what a well-run
  estate sends; a zone name after a Cisco time is ignored), in the year of ``received``, or
  the year before when that would put them more than a day in the future (a Dec 31 message
  received on Jan 1). ``default_year`` overrides the year.
* Times are returned as ISO 8601 UTC strings: ``2026-01-05T10:00:00Z`` (``.ffffff`` when the
  sender gave a fraction).
* A repeated SD-PARAM name (RFC 5424 allows it) keeps its first value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from hygie.core.errors import RecordError
from hygie.normalize.keyvalue import message_pairs

_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_PRI = re.compile(r"<(\d{1,3})>")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?")
# Mmm dd [yyyy] hh:mm:ss[.fff] [zone]; Cisco marks an unsynchronised clock with * or .
_BSD_TIME = re.compile(
    r"[*.]?([A-Za-z]{3}) {1,2}(\d{1,2})(?: (\d{4}))? (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
    r"(?: (?:[A-Z]{2,5}|[+-]\d{2}:?\d{2})(?=:))?(?=[ :]|$)")
_TAG = re.compile(r"([^\s\[\]:]{1,64})(?:\[([^\]\s]{0,64})\])?:(?: |$)")
_CISCO_SEQ = re.compile(r"\d{1,10}: ")
_CISCO_TAG = re.compile(r"%([A-Za-z0-9_]+)-(\d)-([A-Za-z0-9_]+): ?")
_SD_NAME = re.compile(r'[^ =\]"]{1,32}')
# Unrolled, so linear; possessive, so no backtracking stack: a 1 MiB value of backslashes
# without its closing quote fails in milliseconds and no memory (75 MiB before).
_SD_VALUE = re.compile(r'([^"\\]*+(?:\\.[^"\\]*+)*+)"', re.DOTALL)
_SD_ESCAPE = re.compile(r'\\(["\\\]])')


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """A parsed message. ``None`` means the sender did not say (or sent RFC 5424's ``-``)."""

    facility: int | None
    severity: int | None
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)
    message: str = ""
    format: str = "unknown"  # "rfc5424" | "rfc3164" | "unknown"


def parse_syslog(payload: bytes, received: float, *,
                 default_year: int | None = None) -> SyslogMessage:
    """Parse one message; raise :class:`RecordError` only for an empty payload or a bad PRI."""
    text = payload.decode("utf-8", errors="replace").strip("\r\n\x00")
    if not text.strip():
        raise RecordError("empty syslog message")
    pri, rest = _split_pri(text)
    facility, severity = (pri // 8, pri % 8) if pri is not None else (None, None)
    parsed = _rfc5424(rest) if rest[:2] == "1 " else None
    if parsed is None:
        parsed = _rfc3164(rest, received, default_year)
    if parsed is None:
        return SyslogMessage(facility, severity, None, None, None, None, None, {},
                             _strip_bom(rest), "unknown")
    timestamp, hostname, app, procid, msgid, sd, message, fmt = parsed
    return SyslogMessage(facility, severity, timestamp, hostname, app, procid, msgid, sd,
                         message, fmt)


def _split_pri(text: str) -> tuple[int | None, str]:
    """PRI and the rest. A ``<`` that does not open a PRI is refused, except for text that
    plainly is not one (``<?xml``, ``<html>``): that is a message without PRI."""
    if not text.startswith("<"):
        return None, text
    found = _PRI.match(text)
    if found:
        pri = int(found.group(1))
        if pri > 191:
            raise RecordError(f"PRI {pri} out of range 0-191")
        return pri, text[found.end():]
    digits = re.match(r"<(\d{4,})", text)
    if digits:
        shown = digits.group(1)[:12]
        raise RecordError(f"PRI {shown} out of range 0-191 (more than 3 digits)")
    bad = re.match(r"<([^>]{0,3})>", text)
    if bad:
        raise RecordError(f"PRI {bad.group(1)!r} is not a number 0-191")
    if re.match(r"<[\d\s-]", text):
        raise RecordError("PRI not closed by '>' after at most 3 digits")
    return None, text


_Parsed = tuple[str | None, str | None, str | None, str | None, str | None,
                dict[str, dict[str, str]], str, str]


def _rfc5424(rest: str) -> _Parsed | None:
    """``1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]``, or None if it is not that."""
    parts = rest.split(" ", 6)
    if len(parts) < 6:
        return None
    _, stamp, host, app, procid, msgid = parts[:6]
    tail = parts[6] if len(parts) == 7 else ""  # a header without SD: lenient
    if stamp == "-":
        timestamp = None
    else:
        found = _RFC3339.fullmatch(stamp)
        timestamp = _iso_from_match(found) if found else None
        if timestamp is None:
            return None
    sd, message = _structured_data(tail)
    return (timestamp, _nil(host), _nil(app), _nil(procid), _nil(msgid), sd,
            _strip_bom(message), "rfc5424")


def _structured_data(tail: str) -> tuple[dict[str, dict[str, str]], str]:
    """SD elements and the message after them; malformed SD leaves everything as message."""
    if tail == "-" or tail.startswith("- "):
        return {}, tail[2:]
    if not tail.startswith("["):
        return {}, tail  # lenient: no SD field at all
    elements: dict[str, dict[str, str]] = {}
    i, n = 0, len(tail)
    while i < n and tail[i] == "[":  # each pass consumes one element
        sd_id = _SD_NAME.match(tail, i + 1)
        if not sd_id:
            return {}, tail
        params = elements.setdefault(sd_id.group(), {})
        i = sd_id.end()
        while i < n and tail[i] == " ":  # each pass consumes one param
            name = _SD_NAME.match(tail, i + 1)
            if not name or tail[name.end():name.end() + 2] != '="':
                return {}, tail
            value, i = _sd_value(tail, name.end() + 2)
            if i < 0:
                return {}, tail
            params.setdefault(name.group(), value)
        if i >= n or tail[i] != "]":
            return {}, tail
        i += 1
    return elements, tail[i + 1:] if tail[i:i + 1] == " " else tail[i:]


def _sd_value(tail: str, i: int) -> tuple[str, int]:
    """A PARAM-VALUE from after its opening quote: (value, index after closing quote), with
    ``\\"``, ``\\\\`` and ``\\]`` undone (another backslash stays, as RFC 5424 says); -1 if
    unterminated. One linear regex: a value can be 64 KiB of backslashes."""
    found = _SD_VALUE.match(tail, i)
    if not found:
        return "", -1
    return _SD_ESCAPE.sub(r"\1", found.group(1)), found.end()


def _rfc3164(rest: str, received: float, default_year: int | None) -> _Parsed | None:
    """BSD syslog and its variants: ``TIMESTAMP [HOSTNAME] TAG[PID]: MSG``."""
    cisco_seq = _CISCO_SEQ.match(rest)
    body = rest[cisco_seq.end():] if cisco_seq else rest
    timestamp, after = _leading_time(body, received, default_year)
    if timestamp is None and cisco_seq is None:
        return _tag_only(rest)
    if timestamp is None:
        return None
    if after.startswith(":"):  # Cisco: time, colon, then the %FAC-SEV-MNEMONIC tag
        after = after[1:]
    after = after.lstrip(" ")
    cisco = _CISCO_TAG.match(after)
    if cisco:
        return (timestamp, None, cisco.group(1), None, cisco.group(3), {},
                after[cisco.end():], "rfc3164")
    hostname, app, procid, message = _host_and_tag(after)
    return timestamp, hostname, app, procid, None, {}, message, "rfc3164"


def _tag_only(rest: str) -> _Parsed | None:
    """No timestamp: still RFC 3164 when it starts with a tag (``sshd[42]: ...``)."""
    tag = _TAG.match(rest)
    if not tag:
        return None
    return None, None, tag.group(1), tag.group(2) or None, None, {}, rest[tag.end():], "rfc3164"


def _host_and_tag(after: str) -> tuple[str | None, str | None, str | None, str]:
    """After the time: ``HOST TAG[PID]: MSG``, ``TAG[PID]: MSG`` (no host) or ``HOST MSG``.
    A word that ends in ``:`` or carries ``[pid]`` is a tag, not a hostname."""
    tag = _TAG.match(after)
    if tag:
        return None, tag.group(1), tag.group(2) or None, after[tag.end():]
    host, _, remainder = after.partition(" ")
    if not host:
        return None, None, None, after
    if remainder.startswith(": "):  # ``host : msg`` (Cisco ASA with a device id)
        remainder = remainder[2:]
        cisco = _CISCO_TAG.match(remainder)
        if cisco:
            return host, cisco.group(1), None, remainder[cisco.end():]
        return host, None, None, remainder
    tag = _TAG.match(remainder)
    if tag:
        return host, tag.group(1), tag.group(2) or None, remainder[tag.end():]
    return host, None, None, remainder


def _leading_time(body: str, received: float,
                  default_year: int | None) -> tuple[str | None, str]:
    """A BSD or RFC 3339 time at the start of ``body``: (ISO UTC time, text after it)."""
    iso = _RFC3339.match(body)
    if iso and (iso.end() == len(body) or body[iso.end()] in " :"):
        return _iso_from_match(iso), body[iso.end():]
    bsd = _BSD_TIME.match(body)
    if not bsd or bsd.group(1).lower() not in _MONTHS:
        return None, body
    month, day = _MONTHS[bsd.group(1).lower()], int(bsd.group(2))
    hour, minute, second = int(bsd.group(4)), int(bsd.group(5)), int(bsd.group(6))
    micro = int((bsd.group(7) or "0").ljust(6, "0"))
    now = datetime.fromtimestamp(received, timezone.utc)
    year = int(bsd.group(3)) if bsd.group(3) else default_year or now.year
    try:
        when = datetime(year, month, day, hour, minute, second, micro, timezone.utc)
        if not bsd.group(3) and default_year is None and when > now + timedelta(days=1):
            when = when.replace(year=year - 1)
    except ValueError:  # Feb 30, 25:00, or Feb 29 moved to a common year
        return None, body
    return _iso(when), body[bsd.end():]


def _iso_from_match(found: re.Match[str]) -> str | None:
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    micro = int((found.group(7) or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if found.group(9):
        sign = 1 if found.group(9) == "+" else -1
        offset = sign * timedelta(hours=int(found.group(10)), minutes=int(found.group(11)))
    try:
        when = datetime(year, month, day, hour, minute, min(second, 59), micro,
                        timezone(offset))
        return _iso(when)
    except (ValueError, OverflowError):  # month 13, offset of 24 h, year 1 at +01:00...
        return None


def _iso(when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    spec = "microseconds" if when.microsecond else "seconds"
    return when.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _nil(value: str) -> str | None:
    return None if value in ("-", "") else value


def _strip_bom(message: str) -> str:
    return message[1:] if message.startswith("\ufeff") else message


# -- fields ------------------------------------------------------------------------------------

_MAX_DEPTH = 8  # nested JSON deeper than this is kept as JSON text


def syslog_fields(msg: SyslogMessage) -> dict[str, Any]:
    """Flat fields for Sigma rules and search. Syslog's own fields win over JSON keys of the
    same name, compared case-insensitively as rules compare them; a JSON body (NXLog,
    firewalls; optionally after ``@cee:``) adds its keys, nested objects flattened with dots;
    any other body adds its CEF or ``key=value`` pairs (FortiGate, Stormshield, auditd, sudo:
    :mod:`hygie.normalize.keyvalue`) by the same rule."""
    fields: dict[str, Any] = {}
    syslog_own = {
        "facility": msg.facility, "severity": msg.severity, "host": msg.hostname,
        "hostname": msg.hostname, "app_name": msg.app_name, "program": msg.app_name,
        "procid": msg.procid, "msgid": msg.msgid, "message": msg.message,
    }
    fields.update({key: value for key, value in syslog_own.items() if value is not None})
    for sd_id, params in msg.structured_data.items():
        for name, value in params.items():
            fields[f"{sd_id}.{name}"] = value
    body = _json_body(msg.message)
    flat: dict[str, Any] = {}
    if body is not None:
        try:
            _flatten(body, "", flat, 0)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: the text only
            flat = {}
    else:
        flat = message_pairs(msg.message)  # flat already: names to text
    if flat:
        taken = {key.casefold() for key in fields}  # rules compare names case-insensitively
        for key, value in flat.items():
            folded = key.casefold()
            if folded not in taken:
                fields[key] = value
                taken.add(folded)
    return fields


def _json_body(message: str) -> dict[str, Any] | None:
    text = message.strip()
    if text.startswith("@cee:"):
        text = text[5:].lstrip()
    if not text.startswith("{") or not text.endswith("}"):
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _flatten(doc: dict[str, Any], prefix: str, out: dict[str, Any], depth: int) -> None:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < _MAX_DEPTH:
            _flatten(value, name + ".", out, depth + 1)
        elif isinstance(value, dict):
            out[name] = orjson.dumps(value).decode()
        else:
            out[name] = value

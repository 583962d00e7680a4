"""``key=value`` and CEF message bodies to fields: what firewalls and Linux daemons log.

Why: FortiGate (``srcip=10.0.0.5 action="deny"``), Stormshield SNS (``id=firewall src=…``),
auditd (``type=EXECVE … a0="curl"``), sudo (``USER=root ; COMMAND=…``) and pam (``rhost=…``)
put their facts in ``key=value`` pairs inside the syslog MSG; Palo Alto, Check Point, Fortinet
and many others can send ArcSight CEF (``CEF:0|Vendor|Product|Version|SignatureID|Name|
Severity|ext``). Rules need those facts as fields, not buried in one ``message`` string.

The text comes from the network, so both parsers never raise, run in time linear in the text
and are bounded: at most :data:`MAX_PAIRS` pairs, keys of at most 64 characters (a longer word
before ``=`` is not a key), values cut at :data:`MAX_VALUE` characters, empty values dropped (an
absent field matches no value, an empty one would match ``''``). Garbage yields no pairs. The
first of two pairs with the same key wins.

* ``key=value``: a key (a letter or ``_``, then letters, digits, ``_ . -``) that starts the text
  or follows whitespace; a value either double-quoted (``\\"`` and ``\\\\`` undone, spaces
  kept) or running to the next whitespace. Text around the pairs is ignored.
* CEF: the header's seven ``|``-separated fields (``\\|`` and ``\\\\`` undone) become
  ``cef.version``, ``cef.vendor``, ``cef.product``, ``cef.device_version``,
  ``cef.signature_id``, ``cef.name`` and ``cef.severity``; the extension's keys are kept as
  they are (``src``, ``dst``, ``spt``, ``dpt``, ``act``, ``suser``…), each value running to
  the next `` key=``, with ``\\=``, ``\\\\``, ``\\n`` and ``\\r`` undone.
"""

from __future__ import annotations

import itertools
import re

MAX_PAIRS = 256
MAX_VALUE = 4096
CEF_HEADER = ("cef.version", "cef.vendor", "cef.product", "cef.device_version",
              "cef.signature_id", "cef.name", "cef.severity")
_CEF_SEARCH = 256  # how far into the MSG a CEF header may start (after a sender's prefix)

_KEY = re.compile(r"(?<!\S)([A-Za-z_][A-Za-z0-9_.\-]{0,63})=")
# A key and its value: quoted when a closing quote follows, else the word as it stands.
# Unrolled loops, possessive: no quantifier can backtrack or keep backtracking state, so a
# match is linear in time and constant in memory (a 1 MiB run of backslashes included).
_PAIR = re.compile(_KEY.pattern + r'(?:"([^"\\]*+(?:\\.[^"\\]*+)*+)"|(\S*))', re.DOTALL)
_FINDALL_TEXT = 4096  # longer texts are read pair by pair, up to MAX_PAIRS (hostile input)
_QUOTE_ESCAPE = re.compile(r'\\(["\\])')
_CEF_START = re.compile(r"(?<!\S)CEF:")
_CEF_FIELD = re.compile(r"([^|\\]*+(?:\\.[^|\\]*+)*+)\|", re.DOTALL)
_CEF_HEADER_ESCAPE = re.compile(r"\\([|\\])")
_CEF_EXT_ESCAPE = re.compile(r"\\([=\\nr|])")
_CEF_EXT_CHARS = {"=": "=", "\\": "\\", "n": "\n", "r": "\r", "|": "|"}


def message_pairs(text: str) -> dict[str, str]:
    """The pairs of a syslog MSG: its CEF fields when it holds a CEF record, else its
    ``key=value`` pairs (empty when it has none)."""
    if "CEF:" in text:  # a substring test first: most messages are plain key=value
        cef = parse_cef(text)
        if cef is not None:
            return cef
    return parse_kv(text)


def parse_kv(text: str) -> dict[str, str]:
    """``key=value`` pairs found anywhere in ``text`` (see the module docstring)."""
    pairs: dict[str, str] = {}
    if "=" not in text:
        return pairs
    # One regex pass finds each key with its value (a FortiGate line has some 30 pairs); an
    # unmatched group is "" in its tuples. A long text is read only up to its MAX_PAIRS-th pair.
    found = (_PAIR.findall(text)[:MAX_PAIRS] if len(text) <= _FINDALL_TEXT else
             [(m[1], m[2] or "", m[3] or "") for m in itertools.islice(_PAIR.finditer(text), MAX_PAIRS)])
    for key, quoted, bare in found:
        if bare:  # unquoted, or a quote that never closes: the word as it stands
            value = bare
        else:
            value = _QUOTE_ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        if value and key not in pairs:
            pairs[key] = value[:MAX_VALUE]
    return pairs


def parse_cef(text: str) -> dict[str, str] | None:
    """The fields of a CEF record that starts ``text`` (or follows a short prefix), or None
    when there is no complete CEF header."""
    start = _CEF_START.search(text, 0, _CEF_SEARCH + 4)
    if start is None:
        return None
    position = start.end()
    fields: dict[str, str] = {}
    for name in CEF_HEADER:
        part = _CEF_FIELD.match(text, position)
        if part is None:
            return None
        value = _CEF_HEADER_ESCAPE.sub(r"\1", part.group(1))
        if value:
            fields[name] = value[:MAX_VALUE]
        position = part.end()
    if not fields.get("cef.version", "").isdigit():
        return None
    _cef_extension(text[position:], fields)
    return fields


def _cef_extension(text: str, fields: dict[str, str]) -> None:
    """Extension pairs into ``fields`` (the first key follows the header's last ``|``, hence
    the extension on its own); header names are never replaced."""
    keys = []
    for key in _KEY.finditer(text):
        keys.append(key)
        if len(keys) > MAX_PAIRS:
            break
    for index, key in enumerate(keys[:MAX_PAIRS]):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        raw = text[key.end():end].rstrip()
        value = _CEF_EXT_ESCAPE.sub(lambda m: _CEF_EXT_CHARS[m.group(1)], raw)
        if value and key.group(1) not in fields:
            fields[key.group(1)] = value[:MAX_VALUE]

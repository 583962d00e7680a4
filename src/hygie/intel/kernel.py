"""The threat-intelligence matcher's pass over every event, compiled like the Sigma engine's
kernel (``setup.py``, Cython, with the C types in ``kernel.pxd``) so that it runs as C; plain
Python, and importable uncompiled (slower, same results: ``tests/unit/test_intel_kernel.py``
runs both).

The pass is a sieve: it answers, from a value's shape and two small tables of the snapshot
(the /16 networks its IPv4 indicators fall in, the last labels of its domains), whether
``Snapshot.lookup`` could find anything in the value. Most values of a live stream (GUIDs,
paths, private addresses, internal host names, times) fail it in C, without touching the
matcher's large tables: those lookups, cache misses each, were the matcher's cost."""

from __future__ import annotations

try:  # pragma: no cover - the attribute only exists when Cython compiled this file
    import cython

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build-time dependency only
    COMPILED = False

V4_BITMAP_BYTES = 8192  # one bit per /16 network (65,536)

# Classes of ASCII characters, one bit each, so that one pass over a text learns its shape.
_DOT, _COLON, _SLASH, _HEX, _ADDRESS, _LIST = 1, 2, 4, 8, 16, 32
_PATH = _SLASH  # '/' and '\\': no domain is looked up in text with either


def _classes() -> bytes:
    table = bytearray(128)
    for ch in "0123456789abcdefABCDEF":
        table[ord(ch)] |= _HEX | _ADDRESS
    for ch in ".:[]%":
        table[ord(ch)] |= _ADDRESS
    table[ord(".")] |= _DOT
    table[ord(":")] |= _COLON
    table[ord("/")] |= _SLASH
    table[ord("\\")] |= _PATH
    for ch in "=;@":
        table[ord(ch)] |= _LIST
    return bytes(table)


_CLASSES = _classes()


def unknown_texts(fields: dict, known: dict, out: list, v4: bytes, tlds: frozenset) -> bool:
    """Append to ``out`` the str values of ``fields`` that could hold an indicator
    (``could_hold``) and are not keys of ``known`` (the values already classified as hitting
    none); numbers, booleans and None are skipped, as no indicator is one. Returns False,
    ``out`` then incomplete, at the first list or object among the values: the caller takes
    its slow path."""
    for value in fields.values():
        cls = type(value)
        if cls is str:
            if could_hold(value, v4, tlds) and value not in known:
                out.append(value)
        elif cls is list or cls is dict or cls is tuple:
            return False
    return True


def could_hold(text: str, v4: bytes, tlds: frozenset) -> bool:
    """False when ``Snapshot.lookup`` can find no indicator in ``text``, by its own rules.
    Kept: a URL, a ``;`` list, a ``=`` hash list, an ``@`` address, a hash's length of hex
    digits, an IPv4 address in a /16 network of ``v4`` (bit ``address >> 16``), a dotted name
    whose last label (lower case, trailing dots removed) is a domain indicator's (``tlds``),
    and IPv6 or bracketed addresses (looked up in Python). Dropped: the rest, such as texts
    shorter than 4, messages and command lines (over 320 characters or with a space, and
    neither a URL nor a ``;`` list), paths, GUIDs, SIDs, times and numbers."""
    size = len(text)
    if size < 4:
        return False
    if size > 320 or " " in text:
        return "://" in text or (size <= 2048 and ";" in text)
    table = _CLASSES
    seen = 0  # the classes of any character
    every = 0xFF  # the classes of every character
    dots = 0
    colons = 0
    last_dot = -1
    index = 0
    for ch in text:
        code = ord(ch)
        kind = table[code] if code < 128 else 0
        seen |= kind
        every &= kind
        if kind & _DOT:
            dots += 1
            last_dot = index
        elif kind & _COLON:
            colons += 1
        index += 1
    if seen & _LIST:
        return True  # a hash list, a list of answers, an email address
    if seen & _COLON and seen & _SLASH and "://" in text:
        return True  # a URL
    hex_only = every & _HEX
    if hex_only and (size == 32 or size == 40 or size == 64):
        return True
    if every & _ADDRESS:
        if address_could_hold(text, colons, v4):
            return True
        return dots > 0 and label_could_end(text, last_dot, tlds)
    return dots > 0 and not seen & _PATH and label_could_end(text, last_dot, tlds)


def address_could_hold(text: str, colons: cython.Py_ssize_t, v4: bytes) -> bool:
    """Whether ``Snapshot._ip`` could find an indicator in ``text`` (made only of the
    characters of addresses): its shapes mirrored, IPv4 read as ``inet_pton`` would (four
    decimal parts up to 255; ``inet_pton`` also refuses leading zeros, which only makes this
    answer True more often) and checked against ``v4``."""
    if text[0] == "[":
        return True
    end = len(text)
    if colons == 1 and "." in text:  # a.b.c.d:port
        end = text.find(":")
    zone = text.find("%", 0, end)
    if zone != -1:
        end = zone
    colons = text.count(":", 0, end)  # as ``_ip`` counts them: after the port and zone are cut
    if colons:
        if colons < 6 and text.find("::", 0, end) == -1:
            return False
        return True  # IPv6: looked up in Python
    address = 0
    part = 0
    digits = 0
    parts = 0
    index = 0
    while index < end:
        ch = text[index]
        if ch == ".":
            if digits == 0 or parts == 3:
                return False
            address = (address << 8) | part
            parts += 1
            part = 0
            digits = 0
        elif "0" <= ch <= "9":
            part = part * 10 + (ord(ch) - 48)
            digits += 1
            if digits > 3 or part > 255:
                return False
        else:
            return False
        index += 1
    if digits == 0 or parts != 3:
        return False
    address = (address << 8) | part
    top = address >> 16
    return (v4[top >> 3] >> (top & 7)) & 1 == 1


def label_could_end(text: str, last_dot: cython.Py_ssize_t, tlds: frozenset) -> bool:
    """Whether the last label of ``text`` (as ``Snapshot._domain`` names it: lower case,
    trailing dots removed) is the last label of a domain indicator; a label that is not
    ASCII is kept (looked up in Python)."""
    end = len(text)
    while end > 0 and text[end - 1] == ".":
        end -= 1
    if end == 0:
        return False
    if end != len(text):
        last_dot = text.rfind(".", 0, end)
        if last_dot == -1:
            return False  # no dot left: ``_domain`` looks nothing up
    label = text[last_dot + 1:end]
    if not label.isascii():
        return True  # ``_domain`` lower-cases the whole name, and Unicode case can depend on context
    return label.lower() in tlds

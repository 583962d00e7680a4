"""Matching events against every active indicator in O(fields), whatever their number.

An immutable ``Snapshot`` is compiled from the store: hash tables for exact values (URLs,
hashes, emails, JA3), a table per prefix length for IPv4/IPv6 addresses and CIDR ranges (an
address is masked once per prefix length present, at most 33 or 129 lookups, usually a few),
and domains looked up label by label from the right (``a.b.evil.org`` checks itself,
``b.evil.org``, ``evil.org``). Event values are classified by shape, not by a list of field
names per rule: IPs by parsing, hashes by hex length (and Sysmon's ``SHA256=…,MD5=…``), URLs
and domains by form, with field names only as hints (JA3 versus MD5). Each distinct value is
classified once and remembered (hosts, images and addresses repeat): one pass in C over an
event's values (``kernel``) first sieves out the values whose shape, or whose /16 network or
last label, no indicator has, then leaves only those never seen (or that hit) for Python to
look at. Tenancy and expiry are checked on the rare hit, so one snapshot serves every tenant.

``IntelMatcher`` holds the current snapshot and rebuilds it in a background thread when the
store's change stamp moves; the new one is swapped in by one assignment, so detection never
waits for a rebuild and never sees half of one."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from hygie.core.alert import Alert
from hygie.core.event import Event
from hygie.intel.indicators import IndicatorError, normalise_url
from hygie.intel.kernel import V4_BITMAP_BYTES, could_hold, unknown_texts
from hygie.store.state.intel_store import ActiveIndicator, NewSighting

log = logging.getLogger("hygie.intel")

TYPES = ("ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email", "ja3")
TLPS = ("clear", "green", "amber", "amber+strict", "red")
CACHE_LIMIT = 200_000  # distinct values remembered per snapshot (cleared when full)
MAX_VALUE = 8192  # longer values (scripts, messages) are only searched for URLs
_HEXCHARS = frozenset("0123456789abcdefABCDEF")
_IP_CHARS = frozenset("0123456789abcdefABCDEF.:[]%")
_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?|ftp)://[^\s\"'<>|`]+")
_HASH_ALGS = {"md5", "sha1", "sha256", "imphash", "sha384", "sha512"}
# A table's value: the row of the one indicator with that key, or for the rare keys of several
# indicators -(i + 1), ``i`` indexing ``Snapshot.multi``. Only ints: a dict holding nothing but
# ints and strings is not tracked by Python's cyclic garbage collector, so a million
# indicators add nothing to the collector's full passes (tuples in the tables did).
Rows = int


# What the snapshot is built from: the store's active indicators (the name tests and
# benchmarks build rows with).
IndicatorRow = ActiveIndicator


@dataclass(slots=True)
class Hit:
    """One indicator found in one event, with every field that held it."""

    indicator_id: int
    type: str
    value: str
    confidence: int
    tlp: str
    feed_id: int
    source: str
    shared: bool
    fields: dict[str, str] = field(default_factory=dict)


def _add(table: dict[Any, Rows], key: Any, row: int, multi: list[tuple[int, ...]]) -> None:
    old = table.get(key)
    if old is None:
        table[key] = row
    elif old >= 0:
        multi.append((old, row))
        table[key] = -len(multi)
    else:
        multi[-old - 1] += (row,)


class Snapshot:
    """Compiled indicators; never changed once built (a refresh builds another)."""

    def __init__(self, rows: Iterable[Any], sources: dict[int, str] | None = None) -> None:
        started = time.perf_counter()
        self.sources = dict(sources or {})
        self.tenants: list[str | None] = [None]
        tenant_index: dict[str | None, int] = {None: 0}
        self.ids, self.tenant = array("q"), array("i")
        self.kind, self.confidence, self.tlp = array("b"), array("b"), array("b")
        self.feed, self.expires = array("q"), array("d")
        values: list[str] = []
        self.multi: list[tuple[int, ...]] = []  # rows of keys shared by several indicators
        self.v4: dict[int, dict[int, Rows]] = {}
        self.v6: dict[int, dict[int, Rows]] = {}
        self.domains: dict[str, Rows] = {}
        self.exact: dict[str, Rows] = {}  # urls, hashes, ja3, emails: their forms never collide
        self.skipped = 0
        for ind in rows:
            row = len(self.ids)
            try:
                self._index(ind, row)
            except (ValueError, OSError):
                self.skipped += 1
                continue
            tenant = tenant_index.get(ind.tenant_id)
            if tenant is None:
                tenant = tenant_index[ind.tenant_id] = len(self.tenants)
                self.tenants.append(ind.tenant_id)
            self.ids.append(ind.id)
            self.tenant.append(tenant)
            self.kind.append(TYPES.index(ind.type))
            self.confidence.append(ind.confidence)
            self.tlp.append(TLPS.index(ind.tlp) if ind.tlp in TLPS else 0)
            self.feed.append(ind.feed_id)
            self.expires.append(ind.expires.timestamp() if ind.expires else float("inf"))
            values.append(ind.value)
        # (table, mask) per prefix length present, longest first: an address is masked once each
        self.v4_masks = [(self.v4[bits], _mask(bits, 32)) for bits in sorted(self.v4, reverse=True)]
        self.v6_masks = [(self.v6[bits], _mask(bits, 128)) for bits in sorted(self.v6, reverse=True)]
        # the sieve's tables (``kernel.could_hold``): /16 networks of IPv4 keys, domains' last labels
        self.v4_top = _v4_bitmap(self.v4)
        self.tlds = frozenset(name.rpartition(".")[2] for name in self.domains)
        self.values = tuple(values)  # a tuple of strings: untracked by the collector
        self.negative: dict[Any, None] = {}  # event values known to hit nothing (a dict: untracked)
        self.positive: dict[Any, tuple[int, ...]] = {}  # values that hit, with their rows
        self.size = len(self.ids)
        self.build_s = time.perf_counter() - started

    def _index(self, ind: Any, row: int) -> None:
        kind, value = ind.type, ind.value
        if kind == "ipv4":
            _add(self.v4.setdefault(32, {}), int.from_bytes(socket.inet_pton(socket.AF_INET, value)), row, self.multi)
        elif kind == "ipv6":
            _add(self.v6.setdefault(128, {}), int.from_bytes(socket.inet_pton(socket.AF_INET6, value)), row, self.multi)
        elif kind == "cidr":
            address, _, length = value.partition("/")
            bits = int(length)
            if ":" in address:
                net = int.from_bytes(socket.inet_pton(socket.AF_INET6, address))
                _add(self.v6.setdefault(bits, {}), net & _mask(bits, 128), row, self.multi)
            else:
                net = int.from_bytes(socket.inet_pton(socket.AF_INET, address))
                _add(self.v4.setdefault(bits, {}), net & _mask(bits, 32), row, self.multi)
        elif kind == "domain":
            _add(self.domains, value, row, self.multi)
        elif kind in TYPES:
            _add(self.exact, value, row, self.multi)
        else:
            raise ValueError(kind)

    def learn(self, value: str) -> tuple[int, ...]:
        """Classify a value never seen (the only per-value Python work) and remember it."""
        if len(self.negative) >= CACHE_LIMIT:
            self.clear_cache()
        rows: tuple[int, ...] = ()
        if len(value) <= MAX_VALUE or "://" in value:
            rows = self.lookup(value)
        if rows:
            self.positive[value] = rows
        else:
            self.negative[value] = None
        return rows

    def clear_cache(self) -> None:
        self.negative.clear()
        self.positive.clear()

    # -- classification of one event value -------------------------------------------------------
    def lookup(self, value: str) -> tuple[int, ...]:
        """The rows ``value`` matches, before tenancy and expiry (cached by the caller)."""
        found: list[Rows] = []
        n = len(value)
        if n < 4:
            return ()
        if "://" in value:
            for url in _URL_IN_TEXT.findall(value) if (" " in value or n > 2048) else (value,):
                self._url(url, found)
        elif ";" in value and n <= 2048:  # lists: Sysmon's QueryResults "type: 5 a.net;::ffff:1.2.3.4;"
            return tuple(dict.fromkeys(r for part in value.split(";") if part.strip()
                                       for r in self.lookup(part.split()[-1])))
        elif n > 320 or " " in value:
            return ()
        elif "=" in value:
            self._hash_list(value, found)
        elif n in (32, 40, 64) and _HEXCHARS.issuperset(value):
            self._get(self.exact, value.lower(), found)
        elif "@" in value:
            self._get(self.exact, value.lower(), found)
        elif _IP_CHARS.issuperset(value):  # digits, hex, '.', ':' (not times, GUIDs, paths)
            if not self._ip(value, found) and "." in value:
                self._domain(value, found)
        elif "." in value and "\\" not in value and "/" not in value:
            self._domain(value, found)
        if not found:
            return ()
        out: list[int] = []
        for rows in found:
            if rows >= 0:
                out.append(rows)
            else:
                out.extend(self.multi[-rows - 1])
        return tuple(dict.fromkeys(out))

    @staticmethod
    def _get(table: dict[Any, Rows], key: Any, found: list[Rows]) -> None:
        rows = table.get(key)
        if rows is not None:
            found.append(rows)

    def _hash_list(self, value: str, found: list[Rows]) -> None:
        """Sysmon's ``SHA1=…,MD5=…,SHA256=…,IMPHASH=…`` (and a lone ``SHA256=…``)."""
        for part in value.split(","):
            alg, eq, digest = part.partition("=")
            if eq and alg.strip().lower() in _HASH_ALGS:
                self._get(self.exact, digest.strip().lower(), found)

    def _ip(self, value: str, found: list[Rows]) -> bool:
        text = value
        if text[0] == "[":  # [v6]:port
            text = text[1:text.find("]")] if "]" in text else text
        elif text.count(":") == 1 and "." in text:  # v4:port
            text = text.partition(":")[0]
        if "%" in text:  # fe80::1%eth0
            text = text.partition("%")[0]
        # shapes no address has (times, ports, counters) are refused here, not by an exception
        if ":" in text:
            if "::" not in text and text.count(":") < 6:
                return False
        elif text.count(".") != 3:
            return False
        try:
            if ":" in text:
                number = int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
                if number >> 32 == 0xFFFF:  # ::ffff:a.b.c.d, as Windows logs IPv4 peers
                    return self._masked(number & 0xFFFFFFFF, self.v4_masks, found)
                return self._masked(number, self.v6_masks, found)
            number = int.from_bytes(socket.inet_pton(socket.AF_INET, text))
        except OSError:
            return False
        return self._masked(number, self.v4_masks, found)

    @staticmethod
    def _masked(number: int, masks: list[tuple[dict[int, Rows], int]], found: list[Rows]) -> bool:
        for table, mask in masks:
            rows = table.get(number & mask)
            if rows is not None:
                found.append(rows)
        return True

    def _domain(self, value: str, found: list[Rows]) -> None:
        domains = self.domains
        if not domains:
            return
        name = value.lower().rstrip(".")
        if name.count(".") == 0:
            return
        rows = domains.get(name)
        if rows is not None:
            found.append(rows)
        dot = name.find(".")
        while dot != -1:
            rows = domains.get(name[dot + 1:])
            if rows is not None:
                found.append(rows)
            dot = name.find(".", dot + 1)

    def _url(self, text: str, found: list[Rows]) -> None:
        try:
            url = normalise_url(text.rstrip(".,;)]}'\""))
        except IndicatorError:
            return
        self._get(self.exact, url, found)
        host = url.split("://", 1)[1].split("/", 1)[0]
        if host.startswith("["):
            host = host[1:host.find("]")]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        if not self._ip(host, found):
            self._domain(host, found)


def _v4_bitmap(tables: dict[int, dict[int, Rows]]) -> bytes:
    """One bit per /16 network that an IPv4 key (address or network) of ``tables`` touches:
    an address outside all of them can hit none, whatever the prefix lengths."""
    bits = bytearray(V4_BITMAP_BYTES)
    for length, table in tables.items():
        span = 1 << max(0, 16 - length)  # a network shorter than /16 covers several
        for key in table:
            first = key >> 16
            for top in range(first, first + span):
                bits[top >> 3] |= 1 << (top & 7)
    return bytes(bits)


_MASKS: dict[tuple[int, int], int] = {}


def _mask(bits: int, width: int) -> int:
    mask = _MASKS.get((bits, width))
    if mask is None:
        mask = _MASKS[(bits, width)] = ((1 << bits) - 1) << (width - bits)
    return mask


EMPTY = Snapshot(())


class IntelMatcher:
    """The detection stage's view of the indicators: ``match`` per event, ``maybe_refresh``
    between batches. ``load`` returns the active indicators and the feed names; ``stamp``
    (cheap) tells whether they changed since the last build."""

    def __init__(self, load: Callable[[], tuple[Iterable[Any], dict[int, str]]],
                 stamp: Callable[[], Any] | None = None, refresh_s: float = 60.0,
                 record: Callable[[Sequence[Any]], int] | None = None) -> None:
        self.load = load
        self.stamp = stamp
        self.refresh_s = refresh_s
        self.record = record  # stores sightings (``intel_store.record_sightings`` bound)
        self.snapshot: Snapshot = EMPTY
        self._stamp: Any = object()
        self._next = 0.0
        self._building: threading.Thread | None = None
        self.hits = 0

    @classmethod
    def from_database(cls, engine: Any, refresh_s: float = 60.0) -> IntelMatcher:
        """A matcher fed by the state store behind ``engine`` (a SQLAlchemy Engine)."""
        from functools import partial

        from hygie.store.state import intel_store

        def load() -> tuple[Iterable[Any], dict[int, str]]:
            names = {f.id: f.name for f in intel_store.list_feeds(engine, None)}
            return intel_store.active_indicators(engine), names

        return cls(load, partial(intel_store.change_stamp, engine), refresh_s,
                   partial(intel_store.record_sightings, engine))

    # -- refresh -----------------------------------------------------------------------------------
    def refresh_now(self, force: bool = False) -> bool:
        """Rebuild if the store changed (or ``force``); True when a new snapshot is in use."""
        stamp = self.stamp() if self.stamp is not None else object()
        if not force and stamp == self._stamp:
            return False
        rows, sources = self.load()
        snapshot = Snapshot(rows, sources)
        self.snapshot, self._stamp = snapshot, stamp  # one assignment: readers see old or new
        log.info("indicators compiled: %d active (%d unreadable) in %.1f s", snapshot.size,
                 snapshot.skipped, snapshot.build_s)
        return True

    def maybe_refresh(self) -> None:
        """Between batches: when the period is over, check for changes in the background."""
        now = time.monotonic()
        if now < self._next or (self._building is not None and self._building.is_alive()):
            return
        self._next = now + self.refresh_s
        self._building = threading.Thread(target=self._refresh_quietly, name="hygie-intel",
                                          daemon=True)
        self._building.start()

    def _refresh_quietly(self) -> None:
        try:
            self.refresh_now()
        except Exception:  # the database away: keep matching with the indicators we have
            log.exception("indicators could not be refreshed; the previous ones stay in use")

    # -- matching ----------------------------------------------------------------------------------
    def match(self, tenant: str, fields: dict[str, Any], now: float | None = None) -> list[Hit]:
        """The indicators of ``tenant`` (and shared ones) that the event's values hold.

        One pass in C over the event's values (``kernel.unknown_texts``, compiled) leaves the
        texts that could hold an indicator by their shape and are not known to hit nothing
        (usually none, else the few never seen); only these are looked at in Python. Numbers
        are no indicator and are skipped there."""
        snap = self.snapshot
        if not snap.size:
            return []
        rest: list[str] = []
        if not unknown_texts(fields, snap.negative, rest, snap.v4_top, snap.tlds):  # a list or an object
            return self._match_fields(snap, tenant, fields, now)
        if not rest:
            return []
        found: dict[str, tuple[int, ...]] = {}
        positive, learn = snap.positive, snap.learn
        for value in rest:
            rows = positive.get(value)
            if rows is None:
                rows = learn(value)
            if rows:
                found[value] = rows
        if not found:
            return []
        hits: dict[int, Hit] | None = None
        for name, value in fields.items():
            rows = found.get(value) if value.__class__ is str else None
            if rows:
                hits = self._keep(snap, tenant, name, value, rows, hits, now)
        return self._counted(hits)

    def _match_fields(self, snap: Snapshot, tenant: str, fields: dict[str, Any],
                      now: float | None) -> list[Hit]:
        """Field by field, list items included (events holding lists or objects)."""
        hits: dict[int, Hit] | None = None
        negative, positive, learn = snap.negative, snap.positive, snap.learn
        for name, value in fields.items():
            for text in value if value.__class__ is list else (value,):
                if text.__class__ is not str or not could_hold(text, snap.v4_top, snap.tlds) \
                        or text in negative:
                    continue
                rows = positive.get(text)
                if rows is None:
                    rows = learn(text)
                if rows:
                    hits = self._keep(snap, tenant, name, text, rows, hits, now)
        return self._counted(hits)

    def _counted(self, hits: dict[int, Hit] | None) -> list[Hit]:
        if not hits:
            return []
        self.hits += len(hits)
        return list(hits.values())

    @staticmethod
    def _keep(snap: Snapshot, tenant: str, name: str, text: str, rows: tuple[int, ...],
              hits: dict[int, Hit] | None, now: float | None) -> dict[int, Hit]:
        hits = {} if hits is None else hits
        now = time.time() if now is None else now
        ja3_field = "ja3" in name.lower()
        for row in rows:
            owner = snap.tenants[snap.tenant[row]]
            if owner is not None and owner != tenant or snap.expires[row] <= now:
                continue
            kind = TYPES[snap.kind[row]]
            if (kind == "ja3") != ja3_field and kind in ("ja3", "md5"):
                continue  # a JA3 fingerprint and a file's MD5 have the same form
            hit = hits.get(row)
            if hit is None:
                hit = hits[row] = Hit(snap.ids[row], kind, snap.values[row], snap.confidence[row],
                                      TLPS[snap.tlp[row]], snap.feed[row],
                                      snap.sources.get(snap.feed[row], f"feed {snap.feed[row]}"),
                                      owner is None)
            hit.fields[name] = text
        return hits

    def alerts(self, tenant: str, event: Event) -> list[Alert]:
        """One alert per indicator found in the event (kind ``ioc``)."""
        return [hit_alert(hit, event) for hit in self.match(tenant, event.fields)]

    def record_sightings(self, results: Sequence[Any]) -> int:
        """After the batch's commit: a sighting per stored IOC alert (idempotent by record)."""
        if self.record is None:
            return 0
        seen = datetime.now(timezone.utc)
        found = [NewSighting(alert.matched["indicator"]["id"], result.tenant, result.record_key,
                             ",".join(k for k in alert.matched if k != "indicator"), seen)
                 for result in results for alert in result.alerts if alert.kind == "ioc"]
        return self.record(found) if found else 0


def level_for(confidence: int) -> str:
    """Alert level from the indicator's confidence (0-100)."""
    return "high" if confidence >= 80 else "medium" if confidence >= 50 else "low" if confidence >= 20 \
        else "informational"


def hit_alert(hit: Hit, event: Event) -> Alert:
    context = {"id": hit.indicator_id, "type": hit.type, "value": hit.value, "source": hit.source,
               "feed_id": hit.feed_id, "tlp": hit.tlp, "confidence": hit.confidence,
               "shared": hit.shared}
    return Alert(rule_id=f"ioc:{hit.type}:{hit.indicator_id}",
                 title=f"Known malicious {hit.type} seen: {hit.value[:180]} ({hit.source[:60]})",
                 level=level_for(hit.confidence), tags=[f"tlp:{hit.tlp}", "intel"],
                 time=event.time, host=event.host, source=event.source, offset=event.offset,
                 matched={**hit.fields, "indicator": context}, pack="intel", kind="ioc")

"""Which hosts sent events, and what their events said about them: the query behind
``EventStore.hosts_seen`` (observed assets), one aggregate over the Parquet files.

The ``host`` column is cheap to read; the JSON of the fields is not, so it is parsed only in
rows whose text names one of the fields asked for (a substring test first), all paths at once.
A field name with dots (``host.os.name``) is looked for both as one flat key (syslog JSON bodies
are flattened so) and as nested objects (a JSON record keeps them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

_FIELD = re.compile(r"[A-Za-z0-9_@-]{1,64}(?:\.[A-Za-z0-9_@-]{1,64}){0,4}")


@dataclass(frozen=True, slots=True)
class HostSeen:
    """A host of a tenant's events: its name as last written, first and last event time in
    the period read, and the newest non-empty value of each field asked for."""

    host: str
    first_seen: datetime  # aware UTC
    last_seen: datetime  # aware UTC
    fields: dict[str, str]


def _paths(name: str) -> list[str]:
    if not _FIELD.fullmatch(name):
        raise ValueError(f"not a field name: {name!r}")
    flat = f'$."{name}"'
    return [flat] if "." not in name else [flat, "$." + ".".join(f'"{p}"' for p in name.split("."))]


def sql(fields: Sequence[str], moment: str, read: str) -> str:
    """The aggregate: parameters (files, since, until, limit); rows (name, first, last, hosts
    in all, value of each field). ``moment`` and ``read`` are the store's own expressions."""
    paths = [_paths(name) for name in fields]
    flat = [p for group in paths for p in group]
    values, picks = "", []
    if fields:
        needles = sorted({f'"{part}"' for name in fields for part in (name, name.rsplit(".", 1)[-1])})
        test = " OR ".join(f"contains(fields, '{n}')" for n in needles)
        values = (f", CASE WHEN {test} THEN json_extract_string(fields, [{', '.join(repr(p) for p in flat)}]) "
                  "END AS v")
        index = 1
        for group in paths:
            value = f"coalesce({', '.join(f'v[{index + i}]' for i in range(len(group)))})"
            index += len(group)
            picks.append(f", arg_max({value}, m) FILTER (WHERE v IS NOT NULL AND coalesce({value}, '') <> '')")
    return (f"SELECT arg_max(host, m), min(m), max(m), count(*) OVER (){''.join(picks)} "
            f"FROM (SELECT host, {moment} AS m{values} FROM {read} WHERE host IS NOT NULL AND trim(host) <> '') "
            "WHERE m >= ? AND m < ? GROUP BY lower(host) ORDER BY max(m) DESC, lower(host) LIMIT ?")


def rows_to_hosts(rows: list[tuple], fields: Sequence[str]) -> tuple[list[HostSeen], int]:
    """The query's rows as ``HostSeen`` (most recent first) and how many hosts there were."""
    hosts = []
    for name, first, last, _total, *values in rows:
        hosts.append(HostSeen(str(name).strip(), first.replace(tzinfo=timezone.utc), last.replace(tzinfo=timezone.utc),
                              {f: str(v) for f, v in zip(fields, values, strict=False) if v not in (None, "")}))
    return hosts, int(rows[0][3]) if rows else 0

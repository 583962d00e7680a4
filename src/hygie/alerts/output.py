"""Write alerts as JSON lines or CSV, streaming (one alert at a time, nothing buffered)."""

from __future__ import annotations

import csv
from typing import IO

import orjson

from hygie.core.alert import Alert

CSV_COLUMNS = ("time", "host", "level", "rule_id", "title", "pack", "tactics", "techniques",
               "source", "offset", "matched")


class AlertWriter:
    """Base: ``write`` one alert, ``close`` at the end."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, alert: Alert) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()


class JsonLinesWriter(AlertWriter):
    def write(self, alert: Alert) -> None:
        self.stream.write(orjson.dumps(alert.to_dict(), default=str).decode() + "\n")


class CsvWriter(AlertWriter):
    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.csv = csv.writer(stream)
        self.csv.writerow(CSV_COLUMNS)

    def write(self, alert: Alert) -> None:
        self.csv.writerow([
            alert.time or "", alert.host or "", alert.level, alert.rule_id, alert.title,
            alert.pack, ";".join(alert.tactics), ";".join(alert.techniques), alert.source,
            alert.offset, orjson.dumps(alert.matched, default=str).decode(),
        ])

"""The service's feed schedule: a daemon thread that refreshes due feeds every minute, so that
a slow feed server never holds up detection."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import Engine

from hygie.intel.refresh import refresh_due

log = logging.getLogger("hygie.intel")
CHECK_S = 60.0


def run_feed_schedule(engine: Engine, stop: threading.Event, check_s: float = CHECK_S,
                      key_dir: Path | None = None) -> None:
    """Until ``stop`` is set: refresh the feeds whose schedule has come, then wait.
    ``key_dir``: the data dir holding the key that opens feeds' credentials."""
    while not stop.is_set():
        try:
            refresh_due(engine, key_dir)
        except Exception:  # the database away: the next round retries
            log.exception("scheduled feed refresh failed")
        if stop.wait(check_s):
            return

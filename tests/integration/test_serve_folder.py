"""``hygie serve --watch``: files dropped in a folder are detected once, across restarts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.integration.serve_util import start_service, stop_service, wait_until

from hygie.pipeline.collectors import CollectorSpecError, WatchSpec
from hygie.pipeline.service import ServiceConfig

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"


def test_a_dropped_file_is_detected_once_across_restarts(tmp_path, pack_engine) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    config = ServiceConfig(data_dir=tmp_path / "data", http_port=0, tenants=["chu-a"],
                           watch=[WatchSpec("chu-b", exports)])
    lines = len(DEMO.read_bytes().splitlines())
    svc, thread = start_service(config, pack_engine)
    try:
        shutil.copy(DEMO, exports / "morning.jsonl")
        wait_until(lambda: svc.stage.events + svc.stage.quarantined == lines and svc.backlog == 0,
                   timeout=60)
        alerts = svc.state.alerts(["chu-b"], limit=500)
        assert alerts and all(row.source.startswith("folder:") for row in alerts)
        assert svc.state.alerts(["chu-a"]) == [] and svc.state.quarantine(["chu-b"])
    finally:
        stop_service(svc, thread)
    again, thread = start_service(config, pack_engine)  # same data dir: same ledger
    try:
        shutil.copy(DEMO, exports / "renamed-copy.jsonl")  # same content: not read again
        assert again.folders is not None
        [collector] = again.folders.collectors
        reports = []
        wait_until(lambda: reports.append(collector.scan_once()) or reports[-1].waiting == 0,
                   timeout=30)  # until both files have settled and been looked at
        assert reports[-1].already == 2 and reports[-1].records == 0
        assert again.stage.events == 0 and again.backlog == 0
    finally:
        stop_service(again, thread)


def test_a_missing_folder_stops_the_start(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0,
                           watch=[WatchSpec("chu-a", tmp_path / "nowhere")])
    with pytest.raises(CollectorSpecError, match="watched folder not found"):
        start_service(config, pack_engine)

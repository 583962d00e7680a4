"""The correlation stage of the scale-out mode, without NATS: workers' stages forward the
base-rule matches, one ``CorrelationStage`` holds the windows. Its alerts are those of the
embedded stage (same keys), and a restart from an older checkpoint, reading the same feeds
again, stores nothing twice."""

from __future__ import annotations

from collections import Counter

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.correlation import CorrelationStage
from hygie.pipeline.detection import DetectionStage
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.models import AlertKey, AlertRow
from hygie.store.state.store import StateStore, alert_key
from tests.integration.nats_util import BRUTE_FORCE_ID, failed_logons, write_brute_force_rules

POLICY = PatientPolicy(b"salt")


def _records(lines: list[bytes]) -> list[RawRecord]:
    return [RawRecord("chu-a", "http:chu-a", JSON, line, 1_790_000_000.0, "10.0.0.5:4000", seq)
            for seq, line in enumerate(lines)]


def _correlation_rows(state: StateStore) -> list[tuple[str, str]]:
    with Session(state.engine) as session:
        return list(session.execute(select(AlertKey.key, AlertRow.rule_id).join(
            AlertRow, AlertKey.alert_id == AlertRow.id).where(AlertRow.kind == "correlation")))


def test_forwarded_feeds_give_the_embedded_alerts_and_a_replay_adds_nothing(tmp_path) -> None:
    engine = Engine.from_paths([write_brute_force_rules(tmp_path / "rules")])
    records = _records(failed_logons(25) + failed_logons(4, address="10.1.1.1"))

    embedded = DetectionStage(engine, POLICY)
    expected = {alert_key(r.tenant, r.record_key, a) for r in embedded.process(records)
                for a in r.alerts if a.kind == "correlation"}
    assert len(expected) == 2  # 25 failures: a window of 10, another of 10, 5 left

    # two workers, each with part of the records, forward feeds and keep no window
    first, second = DetectionStage(engine, POLICY, True), DetectionStage(engine, POLICY, True)
    results = first.process(records[0::2]) + second.process(records[1::2])
    assert not [a for r in results for a in r.alerts]  # the base rule alone raises nothing
    assert not first.correlators and not second.correlators
    by_key = {}
    for feed in first.take_feeds() + second.take_feeds():
        by_key[feed[1]] = feed
    assert len(by_key) == 29
    order = {r.key(): index for index, r in enumerate(records)}  # the stream's order
    feeds = sorted(by_key.values(), key=lambda f: order[orjson.loads(f[2])["k"]])
    messages = [(seq, data) for seq, (_, _, data) in enumerate(feeds, start=1)]

    state = StateStore(open_database(sqlite_dsn(tmp_path / "state.db")))
    state.ensure_tenant("chu-a")
    stage = CorrelationStage(lambda: engine, state.store_results, tmp_path / "correlation.json")
    stage.restore()
    stage.handle(messages[:12])
    stage.save()  # a checkpoint after 12 feeds (one alert already raised and stored)
    stage.handle(messages[12:])
    assert {key for key, _ in _correlation_rows(state)} == expected

    # a crash before the next checkpoint: a new stage resumes from the old one and reads
    # every feed left unacknowledged again (those the checkpoint holds are skipped)
    again = CorrelationStage(lambda: engine, state.store_results, tmp_path / "correlation.json")
    again.restore()
    assert again.seq == 12
    assert again.handle(messages) == 1  # the second window fires again, on the same record...
    rows = _correlation_rows(state)
    assert Counter(rule for _, rule in rows) == {BRUTE_FORCE_ID: 2}  # ...and is stored once
    assert {key for key, _ in rows} == expected
    assert again.feeds == 17 and again.alerts_by_level == {("chu-a", "high"): 1}
    state.engine.dispose()


def test_a_checkpoint_keeps_only_the_windows_of_unchanged_correlations(tmp_path) -> None:
    rules = write_brute_force_rules(tmp_path / "rules")
    engine = Engine.from_paths([rules])
    stage_records = DetectionStage(engine, POLICY, True)
    stage_records.process(_records(failed_logons(6)))
    messages = list(enumerate((data for _, _, data in stage_records.take_feeds()), start=1))
    stored: list[object] = []
    stage = CorrelationStage(lambda: engine, stored.extend, tmp_path / "c.json")
    stage.restore()
    stage.handle(messages)
    stage.save()
    assert not stored

    same = CorrelationStage(lambda: engine, stored.extend, tmp_path / "c.json")
    same.restore()
    window = next(iter(same.correlators["chu-a"].windows.values()))
    assert len(window.entries) == 6 and same.seq == 6

    (rules / "brute_force.yml").write_text((rules / "brute_force.yml").read_text().replace(
        "gte: 10", "gte: 8"))
    changed_engine = Engine.from_paths([rules])
    changed = CorrelationStage(lambda: changed_engine, stored.extend, tmp_path / "c.json")
    changed.restore()
    assert changed.seq == 6 and not changed.correlators["chu-a"].windows

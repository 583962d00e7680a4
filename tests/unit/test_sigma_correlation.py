"""Sigma correlation rules: event_count, value_count, temporal, temporal_ordered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hygie.core.event import Event
from tests.unit.sigma_util import engine_for

SECURITY = "logsource: {product: windows, service: security}"


def _base(name: str, eid: int, n: int) -> str:
    return (f"title: base {name}\nname: {name}\nid: 10000000-0000-4000-8000-{n:012d}\n{SECURITY}\n"
            f"detection:\n  sel: {{EventID: {eid}}}\n  condition: sel\nlevel: low\n")


def _corr(body: str, n: int = 99) -> str:
    return (f"title: correlated\nid: 20000000-0000-4000-8000-{n:012d}\nlevel: high\n"
            f"tags: [attack.credential_access, attack.t1110]\ncorrelation:\n{body}")


T0 = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)


def _ev(eid: int, seconds: float, **fields) -> Event:
    when = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return Event({"Channel": "Security", "EventID": eid, **fields}, when, "DC01", "t", int(seconds))


def test_event_count_groups_and_windows(tmp_path) -> None:
    engine = engine_for(tmp_path, _base("failed", 4625, 1) + "---\n" + _corr(
        "  type: event_count\n  rules: [failed]\n  group-by: [IpAddress]\n  timespan: 5m\n"
        "  condition: {gte: 10}\n"))
    events = [_ev(4625, i * 10, IpAddress="10.0.0.9") for i in range(12)]  # 12 in 2 minutes
    events += [_ev(4625, i * 10, IpAddress="10.0.0.7") for i in range(9)]  # below threshold
    events += [_ev(4625, 3600 + i * 60, IpAddress="10.0.0.8") for i in range(10)]  # 9 min: too slow
    alerts = engine.run(events)
    assert [(a.title, a.matched["IpAddress"], a.matched["count"]) for a in alerts] == [
        ("correlated", "10.0.0.9", 10)]
    assert alerts[0].kind == "correlation" and len(alerts[0].related) == 10
    assert alerts[0].tactics == ["credential_access"]


def test_base_rule_alerts_only_when_generate(tmp_path) -> None:
    body = "  type: event_count\n  rules: [failed]\n  timespan: 1m\n  condition: {gte: 2}\n"
    quiet = engine_for(tmp_path, _base("failed", 4625, 2) + "---\n" + _corr(body, 2))
    loud = engine_for(tmp_path, _base("failed", 4625, 3) + "---\n"
                      + _corr(body + "  generate: true\n", 3))
    events = [_ev(4625, 1), _ev(4625, 2)]
    assert [a.title for a in quiet.run(events)] == ["correlated"]
    assert sorted(a.title for a in loud.run(events)) == ["base failed", "base failed", "correlated"]


def test_value_count_distinct_users(tmp_path) -> None:
    engine = engine_for(tmp_path, _base("failed", 4625, 4) + "---\n" + _corr(
        "  type: value_count\n  rules: [failed]\n  group-by: [IpAddress]\n  timespan: 10m\n"
        "  condition: {gte: 3, field: TargetUserName}\n", 4))
    same_user = [_ev(4625, i, IpAddress="1.1.1.1", TargetUserName="bob") for i in range(10)]
    spray = [_ev(4625, i, IpAddress="2.2.2.2", TargetUserName=f"u{i}") for i in range(3)]
    alerts = engine.run(same_user + spray)
    assert [a.matched["IpAddress"] for a in alerts] == ["2.2.2.2"]


def test_temporal_and_temporal_ordered(tmp_path) -> None:
    bases = _base("newuser", 4720, 5) + "---\n" + _base("addadmin", 4732, 6) + "---\n"
    any_order = engine_for(tmp_path, bases + _corr(
        "  type: temporal\n  rules: [newuser, addadmin]\n  group-by: [TargetSid]\n"
        "  timespan: 10m\n", 5))
    ordered = engine_for(tmp_path, bases.replace("4000-8000-0000000000", "4000-8000-1000000000")
                         + _corr("  type: temporal_ordered\n  rules: [newuser, addadmin]\n"
                                 "  group-by: [TargetSid]\n  timespan: 10m\n", 6))
    forward = [_ev(4720, 0, TargetSid="S-1"), _ev(4732, 60, TargetSid="S-1")]
    backward = [_ev(4732, 0, TargetSid="S-2"), _ev(4720, 60, TargetSid="S-2")]
    too_late = [_ev(4720, 0, TargetSid="S-3"), _ev(4732, 3600, TargetSid="S-3")]
    assert [a.matched["TargetSid"] for a in any_order.run(forward + backward + too_late)] == [
        "S-1", "S-2"]
    assert [a.matched["TargetSid"] for a in ordered.run(forward + backward + too_late)] == ["S-1"]


def test_lt_condition_decided_when_window_closes(tmp_path) -> None:
    engine = engine_for(tmp_path, _base("heartbeat", 4624, 7) + "---\n" + _corr(
        "  type: event_count\n  rules: [heartbeat]\n  group-by: [Computer]\n  timespan: 1h\n"
        "  condition: {lt: 3}\n", 7))
    events = [_ev(4624, 0, Computer="A"), _ev(4624, 10, Computer="A"),
              _ev(4624, 0, Computer="B"), _ev(4624, 5, Computer="B"), _ev(4624, 9, Computer="B")]
    assert [a.matched["Computer"] for a in engine.run(events)] == ["A"]

"""The durable spool: at-least-once delivery across crashes, bounded depth."""

from __future__ import annotations

import pytest

from hygie.bus.spool import Spool, SpoolFull


def test_claimed_records_are_leased_not_removed(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.put([b"a", b"b", b"c"])
    first = spool.claim(2, lease_s=60)
    assert [data for _, data in first] == [b"a", b"b"]
    assert [data for _, data in spool.claim(10, lease_s=60)] == [b"c"]  # a and b are leased
    assert spool.claim(10) == []
    spool.ack([i for i, _ in first])
    assert spool.depth == 1


def test_a_crash_before_ack_delivers_again(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.put([b"x", b"y"])
    claimed = spool.claim(10, lease_s=3600)
    assert len(claimed) == 2
    spool.close()  # the consumer dies without acknowledging
    reopened = Spool(tmp_path / "s.db")
    assert reopened.depth == 2
    assert reopened.claim(10) == []  # still leased...
    assert reopened.release_claims() == 2  # ...until the new process voids old claims
    assert [data for _, data in reopened.claim(10)] == [b"x", b"y"]


def test_expired_leases_come_back(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.put([b"x"])
    assert spool.claim(1, lease_s=-1)  # already expired
    assert [data for _, data in spool.claim(1)] == [b"x"]


def test_depth_is_bounded(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db", max_depth=3)
    spool.put([b"1", b"2"])
    with pytest.raises(SpoolFull):
        spool.put([b"3", b"4"])  # all or nothing
    assert spool.depth == 2
    spool.ack([i for i, _ in spool.claim(1)])
    spool.put([b"3", b"4"])
    assert spool.depth == 3


def test_release_gives_records_back_at_once(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.put([b"x"])
    ids = [i for i, _ in spool.claim(1, lease_s=3600)]
    spool.release(ids)
    assert [data for _, data in spool.claim(1)] == [b"x"]


def test_a_batch_larger_than_the_bound_gets_into_an_empty_spool(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db", max_depth=3)
    spool.put([b"1"])
    with pytest.raises(SpoolFull):
        spool.put([b"a", b"b", b"c", b"d"])
    spool.ack([i for i, _ in spool.claim(1)])
    spool.put([b"a", b"b", b"c", b"d"])  # otherwise it would wait forever
    assert spool.depth == 4

"""The durable spool: at-least-once delivery across crashes, bounded depth."""

from __future__ import annotations

import pytest

from hygie.bus.spool import CHUNK, Spool, SpoolFull


def test_claimed_records_are_leased_not_removed(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db")
    for item in (b"a", b"b", b"c"):
        spool.put([item])  # three puts: three chunks
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


def test_expired_leases_come_back_to_another_consumer_never_to_their_holder(tmp_path) -> None:
    """A lease runs out for a consumer that died; the one that holds the chunks (its store is
    slow, say) must not detect them a second time beside the first."""
    spool = Spool(tmp_path / "s.db")
    spool.put([b"x"])
    spool.put([b"y"])
    held = spool.claim(1, lease_s=-1)  # already expired
    assert [data for _, data in held] == [b"x"]
    assert [data for _, data in spool.claim(1, lease_s=-1)] == [b"y"]  # not x again
    assert spool.claim(1) == []
    other = Spool(tmp_path / "s.db")
    assert [data for _, data in other.claim(5)] == [b"x", b"y"]
    spool.release([chunk for chunk, _ in held])  # settled: the holder may claim it again
    other.release([chunk for chunk, _ in held])
    assert [data for _, data in spool.claim(1)] == [b"x"]


def test_depth_is_bounded(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db", max_depth=3)
    spool.put([b"1"])
    spool.put([b"2"])
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


def test_records_travel_in_chunks_claimed_and_acknowledged_whole(tmp_path) -> None:
    spool = Spool(tmp_path / "s.db")
    items = [f"record {n}".encode() * (n % 7) for n in range(2 * CHUNK + 500)]  # empty ones too
    spool.put(items)
    assert spool.depth == len(items)
    assert spool.oldest() == items[0]
    first = spool.claim(CHUNK + CHUNK // 2)  # two chunks would not fit: one
    assert [data for _, data in first] == items[:CHUNK]
    assert len({chunk for chunk, _ in first}) == 1
    rest = spool.claim(1)  # less than a chunk: the first chunk all the same
    assert [data for _, data in rest] == items[CHUNK:2 * CHUNK]
    spool.ack([chunk for chunk, _ in first])  # one id per record: the chunk goes once
    assert spool.depth == len(items) - CHUNK
    spool.release([chunk for chunk, _ in rest])
    again = spool.claim(10 * CHUNK)
    assert [data for _, data in again] == items[CHUNK:]
    spool.ack([chunk for chunk, _ in again])
    assert spool.depth == 0 and spool.claim(10) == [] and spool.oldest() is None


def test_rows_of_the_one_record_layout_are_still_delivered(tmp_path) -> None:
    """A spool written before chunks (one record per row, no ``records`` column) is read on
    the first start after an upgrade: nothing accepted before it is lost."""
    import sqlite3

    path = tmp_path / "s.db"
    old = sqlite3.connect(path)
    old.executescript("""CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT,
        data BLOB NOT NULL, claimed_until REAL NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0);
        INSERT INTO spool (data, claimed_until) VALUES (x'6f6c6431', 99999999999);
        INSERT INTO spool (data) VALUES (x'6f6c6432');""")
    old.commit()
    old.close()
    spool = Spool(path)
    assert spool.depth == 2 and spool.oldest() == b"old1"
    assert spool.release_claims() == 1
    spool.put([b"new1", b"new2"])
    claimed = spool.claim(10)
    assert [data for _, data in claimed] == [b"old1", b"old2", b"new1", b"new2"]
    spool.ack([chunk for chunk, _ in claimed])
    assert spool.depth == 0


def test_a_damaged_chunk_gives_what_can_be_read(tmp_path, caplog) -> None:
    import sqlite3

    spool = Spool(tmp_path / "s.db")
    spool.put([b"first", b"second", b"third"])
    db = sqlite3.connect(tmp_path / "s.db")
    (data,) = db.execute("SELECT data FROM spool").fetchone()
    db.execute("UPDATE spool SET data = ?", (data[:-3],))  # the last record cut short
    db.commit()
    db.close()
    claimed = spool.claim(10)
    assert [item for _, item in claimed] == [b"first", b"second"]
    assert "damaged" in caplog.text
    spool.ack([chunk for chunk, _ in claimed])
    assert spool.depth == 0

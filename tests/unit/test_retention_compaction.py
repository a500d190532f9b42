"""Retention and compaction with small segments and injected time."""

import pytest

from mini_kafka import records
from mini_kafka.broker.log import compact
from mini_kafka.broker.log.retention import SegmentFacts, segments_to_delete
from mini_kafka.clock import ManualClock
from mini_kafka.errors import KafkaError
from tests.unit.log_helpers import Model, append, open_log, read_all

DAY_MS = 86_400_000


def facts(*pairs):
    return [SegmentFacts(i * 10, size, ts) for i, (size, ts) in enumerate(pairs)]


@pytest.mark.parametrize("segments, now, retention_ms, retention_bytes, expected", [
    (facts((100, 10), (100, 20), (100, 30)), 1000, 975, -1, 2),   # both closed ones expired
    (facts((100, 10), (100, 20), (100, 30)), 1000, 985, -1, 1),
    (facts((100, 10), (100, 20), (100, 30)), 1000, -1, -1, 0),    # -1: keep forever
    (facts((100, 10), (100, 20)), 10**9, 1, -1, 1),               # never the active one
    (facts((100, 50), (100, 10), (100, 30)), 1000, 960, -1, 0),   # stops at the first young
    (facts((100, 1), (100, 1), (100, 1)), 0, -1, 150, 1),         # 300-100 >= 150, 200-100 < 150
    (facts((100, 1), (100, 1), (100, 1)), 0, -1, 100, 2),
    (facts((100, 1), (100, 1), (100, 1)), 0, -1, 0, 2),
    (facts((100, 1),), 0, 0, 0, 0),
])
def test_which_segments_retention_deletes(segments, now, retention_ms, retention_bytes,
                                          expected):
    assert segments_to_delete(segments, now, retention_ms, retention_bytes) == expected


def _fill(log, clock, model, batches, value_bytes=300):
    for _ in range(batches):
        append(log, model, [(b"k", b"v" * value_bytes, clock.wall_ms(), None)], 0)
        clock.advance(1000)


def test_time_retention_deletes_old_segments_and_moves_the_log_start(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=1024, retention_ms=7 * DAY_MS)
    model = Model()
    _fill(log, clock, model, 12)
    segments_before = len(log.segments)
    assert log.apply_retention(clock.wall_ms()) == 0
    clock.advance(7 * DAY_MS - 4_500)  # the oldest few segments are now past 7 days
    deleted = log.apply_retention(clock.wall_ms())
    assert 0 < deleted < segments_before
    assert log.log_start_offset == log.segments[0].base_offset > 0
    with pytest.raises(KafkaError, match="OFFSET_OUT_OF_RANGE"):
        log.read(0, 100)
    kept = {o: r for o, r in model.records.items() if o >= log.log_start_offset}
    assert read_all(log, log.log_start_offset) == kept
    assert log.epochs.entries[0][1] == log.log_start_offset
    clock.advance(30 * DAY_MS)
    log.apply_retention(clock.wall_ms())
    assert len(log.segments) == 1, "the active segment is never deleted"


def test_size_retention_keeps_the_newest_bytes(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=1024, retention_bytes=2048, retention_ms=-1)
    _fill(log, clock, Model(), 20)
    log.apply_retention(clock.wall_ms())
    assert log.size_bytes >= 2048 - 1024
    assert log.size_bytes - log.segments[0].size < 2048


def test_compact_policy_does_not_delete_by_time(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=1024, retention_ms=1,
                   cleanup_policy="compact")
    _fill(log, clock, Model(), 10)
    assert log.apply_retention(clock.wall_ms() + DAY_MS) == 0


def _compacting_log(tmp_path, clock):
    return open_log(tmp_path, clock, segment_bytes=600, cleanup_policy="compact",
                    delete_retention_ms=DAY_MS)


def test_compaction_keeps_the_latest_value_per_key_at_its_offset(tmp_path):
    clock = ManualClock()
    log = _compacting_log(tmp_path, clock)
    model = Model()
    for i in range(40):
        key = b"key-%d" % (i % 4)
        append(log, model, [(key, b"v%d" % i, clock.wall_ms(), None),
                            (None, b"unkeyed-%d" % i, clock.wall_ms(), None)], 0)
        clock.advance(10)
    active_before = (log.active.base_offset, log.active.size)
    stats = compact(log, clock.wall_ms())
    assert stats.records_removed > 0 and stats.bytes_after < stats.bytes_before
    assert (log.active.base_offset, log.active.size) == active_before
    survivors = read_all(log, 0)
    closed_end = log.active.base_offset
    latest = {}
    for offset, (key, _, _) in model.records.items():
        if key is not None:
            latest[key] = offset
    for offset, record in model.records.items():
        key = record[0]
        expected = offset >= closed_end or key is None or latest[key] == offset
        assert (offset in survivors) == expected, offset
        if expected:
            assert survivors[offset] == record
    assert list(survivors) == sorted(survivors), "order is preserved"
    for offset in range(log.log_end_offset):  # reads at gaps land on the next survivor
        first = records.peek_header(log.read(offset, 1))
        assert first.last_offset >= offset
    log.close()
    reopened = _compacting_log(tmp_path, clock)
    assert read_all(reopened, 0) == survivors


def test_tombstones_outlive_compaction_until_the_delay_passes(tmp_path):
    clock = ManualClock()
    log = _compacting_log(tmp_path, clock)
    model = Model()
    append(log, model, [(b"gone", b"v" * 200, clock.wall_ms(), None)], 0)
    append(log, model, [(b"gone", None, clock.wall_ms(), None)], 0)  # tombstone at offset 1
    for i in range(8):
        append(log, model, [(b"other-%d" % i, b"x" * 200, clock.wall_ms(), None)], 0)
    compact(log, clock.wall_ms())
    survivors = read_all(log, 0)
    assert 0 not in survivors and survivors[1][1] is None
    clock.advance(DAY_MS + 1)
    compact(log, clock.wall_ms())
    assert 1 not in read_all(log, 0)


def test_a_segment_compacted_to_nothing_is_swapped_in_and_reopens(tmp_path):
    """Every record of the closed segments superseded: their cleaned copies hold no batch,
    so no index files (index.py), and the swap and the next open still work."""
    clock = ManualClock()
    log = _compacting_log(tmp_path, clock)
    model = Model()
    for i in range(6):
        append(log, model, [(b"same", b"v%d" % i + b"x" * 300, clock.wall_ms(), None)], 0)
    assert len(log.segments) > 2
    stats = compact(log, clock.wall_ms())
    assert stats.segments_rewritten == len(log.segments) - 1
    assert all(s.size == 0 for s in log.segments[:-1])
    survivors = read_all(log, 0)
    assert [record[1][:2] for record in survivors.values()] == [b"v5"]
    log.close()
    assert read_all(_compacting_log(tmp_path, clock), 0) == survivors

"""Recovery: reopening a damaged log yields exactly its valid prefix and says what it
lost, after a crash or a clean shutdown alike; segments below the recovery point are
checked as they are read instead."""

import os

import pytest

from mini_kafka.broker.log import CorruptSegmentError
from mini_kafka.broker.log.epochs import LeaderEpochCache
from mini_kafka.clock import ManualClock
from tests.unit.log_helpers import Model, append, open_log, read_all


def _log_with_batches(tmp_path, clock, count=6):
    log = open_log(tmp_path, clock)
    model = Model()
    for i in range(count):
        append(log, model, [(b"k%d" % i, b"value-%d" % i, clock.wall_ms(), [("h", b"1")])] * 2, 0)
    return log, model


def _segment_file(tmp_path):
    return tmp_path / f"{0:020d}.log"


def test_truncating_the_last_batch_at_every_byte_leaves_the_prefix(tmp_path):
    clock = ManualClock()
    log, model = _log_with_batches(tmp_path / "src", clock)
    data = _segment_file(tmp_path / "src").read_bytes()
    last_start = log.active.position_of(model.batches[-1][0])
    prefix = {o: r for o, r in model.records.items() if o < model.batches[-1][0]}
    log.close()
    for cut in range(last_start, len(data)):
        work = tmp_path / f"cut-{cut}"
        work.mkdir()
        (work / _segment_file(work).name).write_bytes(data[:cut])
        reopened = open_log(work, clock)
        assert reopened.log_end_offset == model.batches[-1][0], cut
        assert read_all(reopened, 0) == prefix
        assert reopened.active.size == last_start


@pytest.mark.parametrize("damage", ["flip", "garbage", "zeros"])
def test_a_damaged_tail_is_cut_at_the_first_bad_batch(tmp_path, damage):
    clock = ManualClock()
    log, model = _log_with_batches(tmp_path, clock)
    path = _segment_file(tmp_path)
    last_start = log.active.position_of(model.batches[-1][0])
    size = log.active.size
    os.close(log.active._fd)  # a crash: no clean close, no marker
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[last_start + 40] ^= 0x01
        expected_end = model.batches[-1][0]
    elif damage == "garbage":
        data += os.urandom(100)
        expected_end = model.end
    else:
        data += bytes(200)
        expected_end = model.end
    path.write_bytes(bytes(data))
    reopened = open_log(tmp_path, clock)
    assert reopened.log_end_offset == expected_end
    assert read_all(reopened, 0) == {o: r for o, r in model.records.items() if o < expected_end}
    assert reopened.active.size == (last_start if damage == "flip" else size)
    append(reopened, Model(end=expected_end), [(b"new", b"after recovery", 1, None)], 1)


def _rolled_log(tmp_path, clock, **overrides):
    """Ten batches of ~200 bytes over 400-byte segments: several closed segments."""
    log = open_log(tmp_path, clock, **{"segment_bytes": 400, **overrides})
    model = Model()
    for _ in range(10):
        append(log, model, [(b"k", b"v" * 150, clock.wall_ms(), None)], 0)
    return log


def _flip(path, position):
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def test_later_segments_go_when_an_earlier_unflushed_one_is_cut(tmp_path):
    clock = ManualClock()
    log = _rolled_log(tmp_path, clock)
    bases = [s.base_offset for s in log.segments]
    assert len(bases) > 3
    os.close(log.active._fd)  # a crash
    (tmp_path / "recovery-point").write_text("0")  # pretend nothing was ever flushed
    _flip(tmp_path / f"{bases[1]:020d}.log", -5)
    reopened = open_log(tmp_path, clock, segment_bytes=400)
    assert [s.base_offset for s in reopened.segments] == bases[:2]
    assert reopened.log_end_offset < bases[2]
    assert f"segment {bases[1]} was cut" in reopened.damage
    assert f"{len(bases) - 2} later segment(s) deleted" in reopened.damage


@pytest.mark.parametrize("damage", ["flip", "torn", "garbage", "zeros"])
def test_damage_after_a_clean_shutdown_is_cut_at_the_next_open(tmp_path, damage):
    clock = ManualClock()
    log, model = _log_with_batches(tmp_path, clock, count=40)
    last_start = log.active.position_of(model.batches[-1][0])
    assert len(log.segments) > 1, "older segments are trusted; the active one is checked"
    log.close()
    assert (tmp_path / ".clean-shutdown").exists()
    path = log.active.path
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[last_start + 40] ^= 0x01
    elif damage == "torn":
        del data[last_start + 30:]
    else:
        data += os.urandom(100) if damage == "garbage" else bytes(200)
    path.write_bytes(bytes(data))
    reopened = open_log(tmp_path, clock)
    kept_end = model.end if damage in ("garbage", "zeros") else model.batches[-1][0]
    assert reopened.log_end_offset == kept_end
    assert read_all(reopened, 0) == {o: r for o, r in model.records.items() if o < kept_end}
    # Junk past the last batch costs no record, but could have been one: still damage.
    assert "was cut" in reopened.damage
    append(reopened, Model(end=kept_end), [(b"new", b"after", clock.wall_ms(), None)], 1)
    reopened.close()
    again = open_log(tmp_path, clock)
    assert not again.damage and again.log_end_offset == kept_end + 1


def test_junk_past_the_end_of_an_older_segment_loses_nothing(tmp_path):
    clock = ManualClock()
    log = _rolled_log(tmp_path, clock)
    end, count = log.log_end_offset, len(log.segments)
    log.close()
    with open(_segment_file(tmp_path), "ab") as f:
        f.write(os.urandom(50))
    reopened = open_log(tmp_path, clock, segment_bytes=400)
    assert (reopened.log_end_offset, len(reopened.segments)) == (end, count)
    assert not reopened.damage


def test_a_batch_larger_than_the_check_chunk_is_checked_whole(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=8 * 1024 * 1024)
    big = [(b"k", os.urandom(300_000), clock.wall_ms(), None)] * 5  # 1.5 MB
    append(log, Model(), big, 0)
    log.close()
    assert not open_log(tmp_path, clock, segment_bytes=8 * 1024 * 1024).damage
    _flip(_segment_file(tmp_path), 1_400_000)
    damaged = open_log(tmp_path, clock, segment_bytes=8 * 1024 * 1024)
    assert damaged.log_end_offset == 0 and damaged.damage


def test_segments_below_the_recovery_point_are_trusted_at_open_and_checked_when_read(
        tmp_path):
    clock = ManualClock()
    log = _rolled_log(tmp_path, clock)
    assert all(s.verified for s in log.segments), "written and checked by this process"
    log.close()
    log = open_log(tmp_path, clock, segment_bytes=400)
    assert log.recovery_point == log.log_end_offset  # all of it checked or trusted
    assert [s.verified for s in log.segments] == [False] * (len(log.segments) - 1) + [True]
    assert read_all(log, 0), "clean data reads as always"
    log.close()
    _flip(_segment_file(tmp_path), 70)  # the oldest segment goes bad on disk
    log = open_log(tmp_path, clock, segment_bytes=400)
    assert not log.damage, "not read at open"
    with pytest.raises(CorruptSegmentError, match="CRC mismatch"):
        log.read(0, 4096)
    assert log.recovery_point == 0
    log.roll()
    assert log.recovery_point == 0, "a roll does not trust the corrupt segment again"
    log.close()
    reopened = open_log(tmp_path, clock, segment_bytes=400)
    assert reopened.log_end_offset == 0 and "segment 0 was cut" in reopened.damage


def test_a_stale_index_over_corrupt_data_is_cut_not_fatal(tmp_path):
    clock = ManualClock()
    sizes = {"segment_bytes": 400, "index_interval_bytes": 150}  # an entry per batch
    log = _rolled_log(tmp_path, clock, **sizes)
    old = log.segments[0]
    log.close()
    open_log(tmp_path, clock, **sizes).close()  # segment 0 is now trusted
    (tmp_path / f"{0:020d}.index").unlink()  # forces a full, strict validation
    _flip(old.path, 70)
    reopened = open_log(tmp_path, clock, **sizes)
    assert reopened.log_end_offset == 0 and "segment 0 was cut" in reopened.damage


def test_clean_shutdown_marker_is_written_and_consumed(tmp_path):
    clock = ManualClock()
    log, _ = _log_with_batches(tmp_path, clock)
    log.close()
    assert (tmp_path / ".clean-shutdown").exists()
    reopened = open_log(tmp_path, clock)
    assert reopened.was_clean_shutdown
    assert not (tmp_path / ".clean-shutdown").exists()
    assert not open_log(tmp_path, clock).was_clean_shutdown


def test_stale_index_is_rebuilt(tmp_path):
    clock = ManualClock()
    log, model = _log_with_batches(tmp_path, clock, count=40)
    log.close()
    (tmp_path / f"{0:020d}.index").write_bytes(b"\x00\x00\x00")  # a partial entry
    reopened = open_log(tmp_path, clock)
    assert read_all(reopened, 0) == model.records


def test_leader_epoch_end_offsets_follow_kip_101(tmp_path):
    cache = LeaderEpochCache(tmp_path)
    for epoch, start in [(1, 0), (3, 10), (4, 25)]:
        cache.assign(epoch, start)
    cache.assign(3, 99)  # an epoch already known keeps its start
    assert cache.end_offset_for(0, 40) == (-1, -1)
    assert cache.end_offset_for(1, 40) == (1, 10)
    assert cache.end_offset_for(2, 40) == (1, 10)  # unknown epoch: the largest below it
    assert cache.end_offset_for(3, 40) == (3, 25)
    assert cache.end_offset_for(9, 40) == (4, 40)
    assert LeaderEpochCache(tmp_path).entries == [(1, 0), (3, 10), (4, 25)]
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n1 0\n3 10\n4 25\n"
    cache.truncate_from_end(25)
    assert cache.entries == [(1, 0), (3, 10)]
    cache.truncate_from_start(12)
    assert LeaderEpochCache(tmp_path).entries == [(3, 12)]


def test_log_truncation_keeps_the_epoch_checkpoint_consistent(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock)
    model = Model()
    for epoch in (1, 1, 2, 2, 3):
        append(log, model, [(b"k", b"v", clock.wall_ms(), None)] * 3, epoch)
    assert log.epochs.entries == [(1, 0), (2, 6), (3, 12)]
    log.truncate_to(7)  # mid-batch: the batch [6, 8] goes whole
    assert log.log_end_offset == 6
    assert log.epochs.entries == [(1, 0)]
    assert log.end_offset_for_epoch(2) == (1, 6)

"""The partition log against an in-memory model, seeded; every lookup boundary."""

import random

import pytest

from mini_kafka import records
from mini_kafka.clock import ManualClock
from mini_kafka.errors import KafkaError
from tests.unit.log_helpers import Model, append, open_log, random_batch, read_all, truncate_model

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_appends_reads_truncates_rolls_and_reopens_match_the_model(tmp_path, seed):
    rng = random.Random(seed)
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=rng.choice([1024, 4096, 8192]))
    model = Model()
    epoch = 0
    most_segments = 1
    for step in range(250):
        op = rng.random()
        if op < 0.70:
            append(log, model, random_batch(rng, clock), epoch)
        elif op < 0.78 and model.end:
            offset = rng.randint(0, model.end)
            log.truncate_to(offset)
            truncate_model(model, offset)
            epoch += 1  # a new leader's epoch follows a truncation
        elif op < 0.83:
            epoch += 1
        elif op < 0.88:
            log.close()
            log = open_log(tmp_path, clock, segment_bytes=log.config.segment_bytes)
        elif op < 0.91:
            # Unclean: no close, so no marker; everything must still be recovered intact.
            log = open_log(tmp_path, clock, segment_bytes=log.config.segment_bytes)
        elif model.end:
            offset = rng.randint(0, model.end - 1)
            data = log.read(offset, rng.randint(1, 3000))
            batches = [h for _, h in records.iter_headers(data)]
            assert batches and batches[0].base_offset <= offset <= batches[0].last_offset
            for a, b in zip(batches, batches[1:], strict=False):
                assert b.base_offset == a.next_offset
        clock.advance(rng.randint(0, 50))
        assert log.log_end_offset == model.end, f"seed {seed} step {step}"
        most_segments = max(most_segments, len(log.segments))
    assert read_all(log, log.log_start_offset) == model.records
    assert most_segments > 1, "the run should have rolled segments"


def test_read_at_every_offset_returns_the_batch_holding_it(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=1500, index_interval_bytes=200)
    model = Model()
    rng = random.Random(1)
    for _ in range(60):
        append(log, model, random_batch(rng, clock, 5), 0)
    assert len(log.segments) > 3
    for base, last in model.batches:
        for offset in range(base, last + 1):
            first = records.peek_header(log.read(offset, 1))
            assert (first.base_offset, first.last_offset) == (base, last)
    assert log.read(model.end, 1000) == b""
    for bad in (-1, model.end + 1):
        with pytest.raises(KafkaError, match="OFFSET_OUT_OF_RANGE"):
            log.read(bad, 1000)


def test_read_stops_below_the_high_watermark_and_returns_one_oversized_batch(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock)
    model = Model()
    for _ in range(5):
        append(log, model, [(None, b"x" * 100, clock.wall_ms(), None)] * 3, 0)
    data = log.read(0, 100_000, upto_offset=9)
    assert [h.base_offset for _, h in records.iter_headers(data)] == [0, 3, 6]
    assert log.read(9, 100_000, upto_offset=9) == b""
    one = log.read(0, 10)  # smaller than a batch: the whole first batch anyway
    assert [h.base_offset for _, h in records.iter_headers(one)] == [0]


def test_offset_for_timestamp_matches_a_scan_of_the_model(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=2000, index_interval_bytes=100)
    model = Model()
    rng = random.Random(3)
    for _ in range(80):
        append(log, model, random_batch(rng, clock, 4), 0)
        clock.advance(rng.randint(0, 20))
    stamps = sorted({ts for _, _, ts in model.records.values()})
    for target in [stamps[0] - 1, *stamps, stamps[-1] + 1]:
        want = min((o for o, (_, _, ts) in model.records.items() if ts >= target), default=None)
        assert log.offset_for_timestamp(target) == want, target


def test_segments_are_named_by_base_offset_with_kafka_files(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_bytes=1024)
    model = Model()
    for _ in range(20):
        append(log, model, [(b"k", b"v" * 200, clock.wall_ms(), None)], 0)
    names = sorted(p.name for p in tmp_path.iterdir())
    bases = [s.base_offset for s in log.segments]
    for base in bases:
        for suffix in (".log", ".index", ".timeindex"):
            assert f"{base:020d}{suffix}" in names
    assert "leader-epoch-checkpoint" in names
    assert bases[0] == 0 and bases == sorted(bases)


def test_segments_roll_by_age(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, segment_ms=1000, segment_bytes=1 << 20)
    model = Model()
    append(log, model, [(None, b"a", clock.wall_ms(), None)], 0)
    clock.advance(500)
    append(log, model, [(None, b"b", clock.wall_ms(), None)], 0)
    assert len(log.segments) == 1
    clock.advance(1001)
    append(log, model, [(None, b"c", clock.wall_ms(), None)], 0)
    assert [s.base_offset for s in log.segments] == [0, 2]


def test_follower_append_keeps_leader_offsets_and_refuses_gaps(tmp_path):
    clock = ManualClock()
    leader = open_log(tmp_path / "leader", clock)
    follower = open_log(tmp_path / "follower", clock)
    model = Model()
    for epoch in (1, 1, 2):
        append(leader, model, [(b"k", b"v", clock.wall_ms(), None)] * 2, epoch)
    follower.append_as_follower(leader.read(0, 100_000))
    assert follower.log_end_offset == 6
    assert follower.epochs.entries == leader.epochs.entries == [(1, 0), (2, 4)]
    with pytest.raises(records.CorruptRecordError, match="does not follow"):
        follower.append_as_follower(leader.read(2, 100_000))

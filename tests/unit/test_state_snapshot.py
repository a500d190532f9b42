"""Producer and transaction state saved at clean shutdown: used only when it can be
trusted, equal to what reading the whole log rebuilds, and never stale after a crash."""

from __future__ import annotations

import pytest

from mini_kafka import records
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.broker.partition import Partition
from mini_kafka.broker.state_snapshot import SNAPSHOT_FILE
from mini_kafka.clock import ManualClock

pytestmark = pytest.mark.unit


def open_partition(directory, clock):
    return Partition("t", 0, PartitionLog(directory, LogConfig(), clock), 1, high_watermark=0)


def write(part: Partition, recs, **batch):
    header = part.log.append_as_leader(records.encode_batch(recs, **batch), 0)
    part._track(header, part.log.read(header.base_offset, 1) if header.is_control else None)


def fill(part: Partition) -> None:
    rec = [(None, b"v", 1000, None)]
    for seq in range(0, 12, 2):  # idempotent: more batches than the five kept
        write(part, rec * 2, producer_id=7, producer_epoch=0, base_sequence=seq)
    write(part, rec, producer_id=8, producer_epoch=0, base_sequence=0, transactional=True)
    write(part, rec, producer_id=9, producer_epoch=1, base_sequence=0, transactional=True)
    marker = records.encode_marker(9, 1, commit=False, coordinator_epoch=0, timestamp_ms=1000)
    header = part.log.append_as_leader(marker, 0)
    part._track(header, marker)


def state(part: Partition):
    return ({pid: (e.epoch, list(e.batches)) for pid, e in part.producers.producers.items()},
            dict(part.txns.open), list(part.txns.aborted))


def rebuilt(part: Partition):
    part._rebuild_state()
    return state(part)


def test_after_a_clean_shutdown_the_saved_state_is_used_and_matches_the_log(tmp_path,
                                                                           monkeypatch):
    clock = ManualClock()
    part = open_partition(tmp_path, clock)
    fill(part)
    before = state(part)
    assert before[1] == {8: 12} and [a.producer_id for a in before[2]] == [9]
    part.close()
    assert (tmp_path / SNAPSHOT_FILE).exists()

    def no_scan(self):
        raise AssertionError("the log was read although a trusted snapshot existed")

    with monkeypatch.context() as m:
        m.setattr(PartitionLog, "headers", no_scan)
        reopened = open_partition(tmp_path, clock)
    assert state(reopened) == before == rebuilt(reopened)
    assert not (tmp_path / SNAPSHOT_FILE).exists()  # read once: a crash cannot reuse it
    # The reopened partition carries on: the producer's next sequence is accepted.
    nxt = records.peek_header(records.encode_batch([(None, b"v", 1, None)], producer_id=7,
                                                   producer_epoch=0, base_sequence=12))
    assert reopened.producers.check(nxt).action == "append"


def test_after_a_crash_the_state_is_rebuilt_from_the_log(tmp_path):
    clock = ManualClock()
    part = open_partition(tmp_path, clock)
    fill(part)
    part.close()
    reopened = open_partition(tmp_path, clock)  # takes the snapshot
    write(reopened, [(None, b"w", 2000, None)], producer_id=10, producer_epoch=0,
          base_sequence=0)
    reopened.log.flush()  # then the broker is killed: no close, no marker, no snapshot
    crashed = open_partition(tmp_path, clock)
    assert 10 in crashed.producers.producers
    assert state(crashed) == rebuilt(crashed)


def test_a_snapshot_that_cannot_be_trusted_is_ignored_and_removed(tmp_path, monkeypatch):
    clock = ManualClock()
    part = open_partition(tmp_path, clock)
    fill(part)
    part.close()
    (tmp_path / SNAPSHOT_FILE).write_text("{not json")
    garbled = open_partition(tmp_path, clock)
    assert state(garbled) == rebuilt(garbled) and not (tmp_path / SNAPSHOT_FILE).exists()
    end = garbled.log.log_end_offset
    garbled.close()
    text = (tmp_path / SNAPSHOT_FILE).read_text()
    moved = text.replace(f'"end_offset": {end}', f'"end_offset": {end - 1}')
    assert moved != text
    (tmp_path / SNAPSHOT_FILE).write_text(moved)
    scans = []
    original = PartitionLog.headers
    monkeypatch.setattr(PartitionLog, "headers", lambda self: scans.append(1) or original(self))
    elsewhere = open_partition(tmp_path, clock)  # taken at another log end offset
    assert scans, "a snapshot of another log end offset was trusted"
    assert state(elsewhere) == rebuilt(elsewhere)

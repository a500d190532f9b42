"""A full disk at every write the log makes: the write fails with ENOSPC and leaves the
log exactly as it was, so the replica can go offline and come back whole."""

from __future__ import annotations

import errno
import os

import pytest

from mini_kafka import records
from mini_kafka.broker.log.disk import Disk
from mini_kafka.clock import ManualClock
from tests.unit.log_helpers import Model, append, open_log, read_all


def _state(log):
    return (log.log_end_offset, [s.base_offset for s in log.segments], log.active.size,
            list(log.epochs.entries), sorted(p.name for p in log.directory.iterdir()))


def _batch(clock, n=3, size=100):
    return records.encode_batch([(b"k", b"v" * size, clock.wall_ms(), None)] * n)


def test_a_full_disk_fails_appends_and_leaves_the_log_as_it_was(tmp_path):
    clock, disk = ManualClock(), Disk()
    log = open_log(tmp_path, clock, disk=disk)
    leader_batch = _batch(clock)
    while log.active.size + len(leader_batch) <= 4096:
        log.append_as_leader(_batch(clock), 0)
    before = _state(log)
    disk.full = True
    with pytest.raises(OSError) as failed:
        log.append_as_leader(_batch(clock, n=1, size=1), 1)  # a new epoch
    assert failed.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        log.append_as_leader(leader_batch, 1)  # one that needs a new segment
    follower_data = records.encode_batch([(None, b"x", clock.wall_ms(), None)],
                                         base_offset=log.log_end_offset)
    with pytest.raises(OSError):
        log.append_as_follower(follower_data)
    assert _state(log) == before
    disk.full = False
    end = log.log_end_offset
    log.append_as_leader(leader_batch, 1)
    assert len(log.segments) == 2 and log.epochs.entries == [(0, 0), (1, end)]
    log.close()
    assert read_all(open_log(tmp_path, clock), 0).keys() == set(range(end + 3))


def test_a_log_cannot_be_opened_on_a_full_disk_and_opens_once_there_is_room(tmp_path):
    clock, disk = ManualClock(), Disk()
    open_log(tmp_path / "old", clock, disk=disk).close()
    disk.full = True
    for directory in (tmp_path / "new", tmp_path / "old"):
        with pytest.raises(OSError):
            open_log(directory, clock, disk=disk)
    disk.full = False
    assert open_log(tmp_path / "old", clock, disk=disk).log_end_offset == 0


class _ShortWrites(Disk):
    """A disk that fills up in the middle of a write: half of it goes down."""

    def writev(self, fd, parts, path):
        data = b"".join(bytes(p) for p in parts)
        return os.write(fd, data[:len(data) // 2])


def test_a_write_the_disk_cuts_short_is_taken_back(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock)
    append(log, Model(), [(b"k", b"v", clock.wall_ms(), None)], 0)
    before = _state(log)
    log.disk = log.active.disk = _ShortWrites()
    with pytest.raises(OSError, match="short write"):
        log.append_as_leader(_batch(clock), 0)
    assert _state(log) == before
    assert log.active.path.stat().st_size == log.active.size


class _NoRoomForIndexes(Disk):
    def check(self, path):
        if str(path).endswith("index"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_an_index_that_cannot_be_written_is_dropped_and_rebuilt(tmp_path):
    clock = ManualClock()
    log = open_log(tmp_path, clock, index_interval_bytes=0, disk=_NoRoomForIndexes())
    model = Model()
    for i in range(10):
        append(log, model, [(b"k%d" % i, b"v", clock.wall_ms(), None)], 0)
    assert read_all(log, 0) == model.records  # the index still works from memory
    assert not log.active.index.path.exists()
    log.close()
    reopened = open_log(tmp_path, clock, index_interval_bytes=0)
    assert read_all(reopened, 0) == model.records
    assert reopened.active.index.path.exists()

"""A replica new to a broker opens with only the files a log needs (a 1000-partition
topic is ~30 new replicas on each of 100 brokers at once), and is as safe as before:
what it later holds survives a crash and a clean restart."""

from __future__ import annotations

import errno
import os

import pytest

from mini_kafka import records
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.broker.log.disk import Disk
from mini_kafka.clock import ManualClock


class RecordingDisk(Disk):
    def __init__(self):
        super().__init__()
        self.replaced: list[str] = []  # files written through a temporary file

    def write_file(self, path, data, fsync=False):
        self.replaced.append(path.name)
        super().write_file(path, data, fsync)


def batch(clock, value=b"v"):
    return records.encode_batch([(None, value, clock.wall_ms(), None)])


def test_a_new_log_writes_no_file_through_a_temporary_one(tmp_path):
    disk, clock = RecordingDisk(), ManualClock()
    plog = PartitionLog(tmp_path / "t-0", LogConfig(), clock, disk)
    assert disk.replaced == []
    # No index files until there is something to index (index.py).
    assert sorted(os.listdir(tmp_path / "t-0")) == ["00000000000000000000.log"]
    assert (plog.log_start_offset, plog.log_end_offset, plog.recovery_point) == (0, 0, 0)
    plog.close_unclean()


def test_the_first_batch_makes_the_index_files(tmp_path):
    clock = ManualClock()
    plog = PartitionLog(tmp_path / "t-0", LogConfig(), clock, Disk())
    plog.append_as_leader(batch(clock), 0)
    assert {"00000000000000000000.index", "00000000000000000000.timeindex"} <= \
        set(os.listdir(tmp_path / "t-0"))
    assert plog.offset_for_timestamp(0) == 0
    plog.close()


@pytest.mark.parametrize("clean", [True, False])
def test_an_empty_log_reopens_without_index_files_or_complaint(tmp_path, caplog, clean):
    """A topic created and never written, then a restart (clean or a crash): nothing
    taken for a damaged index, nothing rebuilt, and it takes writes as before."""
    clock, directory = ManualClock(), tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    plog.close() if clean else plog.close_unclean()
    with caplog.at_level("WARNING", logger="mini_kafka.broker.log"):
        reopened = PartitionLog(directory, LogConfig(), clock, Disk())
    assert caplog.records == [] and reopened.damage is None
    assert reopened.was_clean_shutdown is clean
    assert not list(directory.glob("*index"))
    reopened.append_as_leader(batch(clock, b"x"), 0)
    reopened.close()
    again = PartitionLog(directory, LogConfig(), clock, Disk())
    [(_, record)] = records.decode_batches(again.read(0, 1 << 20))
    assert again.log_end_offset == 1 and record.value == b"x"
    again.close()


def test_a_stale_index_left_beside_an_empty_segment_is_emptied(tmp_path):
    """A crash can leave index entries for batches the log no longer has: appends after
    them would make an index that lies."""
    clock, directory = ManualClock(), tmp_path / "t-0"
    PartitionLog(directory, LogConfig(), clock, Disk()).close_unclean()
    (directory / "00000000000000000000.index").write_bytes(b"\x00\x00\x00\x00\x00\x00\x10\x00")
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    assert (directory / "00000000000000000000.index").read_bytes() == b""
    plog.append_as_leader(batch(clock), 0)
    plog.close()
    assert PartitionLog(directory, LogConfig(), clock, Disk()).damage is None


def test_what_a_new_log_took_survives_a_crash_and_a_clean_restart(tmp_path):
    clock = ManualClock()
    directory = tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    for value in (b"a", b"b", b"c"):
        plog.append_as_leader(batch(clock, value), 0)
    plog.close_unclean()  # a crash: no recovery point was ever written
    reopened = PartitionLog(directory, LogConfig(), clock, Disk())
    assert reopened.log_end_offset == 3 and not reopened.was_clean_shutdown
    assert reopened.epochs.latest_epoch == 0
    reopened.append_as_leader(batch(clock, b"d"), 0)
    reopened.close()
    again = PartitionLog(directory, LogConfig(), clock, Disk())
    assert again.was_clean_shutdown and again.log_end_offset == 4
    assert (directory / "recovery-point").read_text() == "4"
    again.close()


def test_a_directory_that_exists_is_opened_as_an_old_log(tmp_path):
    """Left empty by a crash right after it was made, say: it is not taken for new (its
    leftovers are cleaned), and opening it writes the recovery point as before."""
    directory = tmp_path / "t-0"
    (directory / ".cleaning").mkdir(parents=True)
    disk = RecordingDisk()
    plog = PartitionLog(directory, LogConfig(), ManualClock(), disk)
    assert not (directory / ".cleaning").exists()
    assert disk.replaced == ["recovery-point"]
    plog.close()


def test_a_new_log_on_a_full_disk_fails_with_enospc_and_leaves_no_log(tmp_path):
    with pytest.raises(OSError) as raised:
        PartitionLog(tmp_path / "t-0", LogConfig(), ManualClock(), Disk(full=True))
    assert raised.value.errno == errno.ENOSPC
    assert not list(tmp_path.rglob("*.log"))


def test_an_index_emptied_in_place_is_empty_and_a_missing_one_stays_missing(tmp_path):
    disk = Disk(full=True)  # truncating needs no space: refused on no disk
    path = tmp_path / "x.index"
    path.write_bytes(b"\x01" * 16)
    disk.empty_if_present(path)
    assert path.read_bytes() == b""
    disk.empty_if_present(tmp_path / "y.index")
    assert not (tmp_path / "y.index").exists()

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
    assert sorted(os.listdir(tmp_path / "t-0")) == [
        "00000000000000000000.index", "00000000000000000000.log",
        "00000000000000000000.timeindex"]
    assert (plog.log_start_offset, plog.log_end_offset, plog.recovery_point) == (0, 0, 0)
    plog.close_unclean()


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


def test_an_index_emptied_in_place_is_empty_and_still_refused_on_a_full_disk(tmp_path):
    disk = Disk()
    path = tmp_path / "x.index"
    path.write_bytes(b"\x01" * 16)
    disk.empty_file(path)
    assert path.read_bytes() == b""
    disk.full = True
    with pytest.raises(OSError):
        disk.empty_file(tmp_path / "y.index")

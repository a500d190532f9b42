"""A replica new to a broker makes nothing on disk until its first batch, which makes
only the files a log needs, each in place (a 1000-partition topic is ~30 new replicas
on each of 100 brokers at once), and is as safe as before: what it later holds
survives a crash and a clean restart, and a write torn by a crash is never read as
something else."""

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


def test_a_new_log_makes_nothing_on_disk_until_its_first_batch(tmp_path):
    """Each directory or file made is an inode allocation (0.1-1.7 ms of kernel time on
    this host's ext4): a new replica makes none until data comes, nor at a clean
    shutdown, nor when opened again."""
    disk, clock = RecordingDisk(), ManualClock()
    directory = tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, disk, topic_id="id-7")
    assert plog.fresh and not plog.on_disk and disk.replaced == []
    assert not directory.exists()
    assert (plog.log_start_offset, plog.log_end_offset, plog.recovery_point) == (0, 0, 0)
    assert plog.read(0, 1 << 20) == b"" and plog.offset_for_timestamp(0) is None
    plog.close()
    assert not directory.exists()
    again = PartitionLog(directory, LogConfig(), clock, disk, topic_id="id-7")
    assert again.fresh and not directory.exists()
    again.append_as_leader(batch(clock), 0)
    assert again.on_disk and "00000000000000000000.log" in os.listdir(directory)
    again.close()


def test_a_never_written_replica_on_a_broker_stopped_and_started_makes_no_file(tmp_path):
    from mini_kafka.broker.partition import Partition

    clock, directory = ManualClock(), tmp_path / "t-0"
    part = Partition("t", 0, PartitionLog(directory, LogConfig(), clock, Disk()), 1, 0)
    part.close()  # producer state and the clean-shutdown marker: nothing to keep
    assert not directory.exists()


def test_a_new_follower_far_behind_starts_at_the_leader_s_log_start(tmp_path):
    """The one write a log makes with no batch: a follower whose leader's log now starts
    later begins there, and the recovery point says so."""
    directory = tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), ManualClock(), Disk())
    plog.truncate_fully_and_start_at(42)
    assert (plog.log_start_offset, plog.log_end_offset) == (42, 42)
    plog.close()
    reopened = PartitionLog(directory, LogConfig(), ManualClock(), Disk())
    assert (reopened.log_start_offset, reopened.recovery_point) == (42, 42)
    reopened.close()


def test_the_first_batch_makes_the_log_its_topic_id_and_epoch_each_in_place(tmp_path):
    """Three inode allocations, no temporary file: the index files wait for their
    first entry (index_interval_bytes in), as Kafka's do."""
    disk, clock = RecordingDisk(), ManualClock()
    config = LogConfig(index_interval_bytes=4096)
    plog = PartitionLog(tmp_path / "t-0", config, clock, disk, topic_id="id-7")
    plog.append_as_leader(batch(clock), 0)
    assert sorted(os.listdir(tmp_path / "t-0")) == [
        "00000000000000000000.log", "leader-epoch-checkpoint", "partition.metadata"]
    assert disk.replaced == []
    assert (tmp_path / "t-0" / "partition.metadata").read_text() == \
        "version: 0\ntopic_id: id-7\n"
    assert plog.offset_for_timestamp(0) == 0
    while plog.active.size < config.index_interval_bytes:
        plog.append_as_leader(batch(clock, b"x" * 500), 0)
    assert {"00000000000000000000.index", "00000000000000000000.timeindex"} <= \
        set(os.listdir(tmp_path / "t-0"))
    assert disk.replaced == [], "the epoch did not change: nothing rewritten"
    plog.close()


def test_a_small_segment_with_no_index_file_opens_trusted_without_a_rebuild(tmp_path, caplog):
    clock, directory = ManualClock(), tmp_path / "t-0"
    config = LogConfig(segment_bytes=200, index_interval_bytes=4096)
    plog = PartitionLog(directory, config, clock, Disk())
    for value in (b"a" * 150, b"b" * 150, b"c"):
        plog.append_as_leader(batch(clock, value), 0)
    assert len(plog.segments) == 3 and not list(directory.glob("*index"))
    plog.close()
    with caplog.at_level("WARNING", logger="mini_kafka.broker.log"):
        reopened = PartitionLog(directory, config, clock, Disk())
    assert caplog.records == [] and reopened.damage is None
    assert not reopened.segments[0].verified, "below the recovery point: trusted, not read"
    values = [r.value for _, r in records.decode_batches(reopened.read(0, 1 << 20))]
    assert values[0] == b"a" * 150 and reopened.offset_for_timestamp(0) == 0
    reopened.close()


@pytest.mark.parametrize("torn_at", range(1, len(b"version: 0\ntopic_id: id-7\n")))
def test_a_torn_topic_id_reads_as_none_never_as_another_id(tmp_path, torn_at):
    from mini_kafka.broker.replica_storage import _read_topic_id

    (tmp_path / "partition.metadata").write_bytes(b"version: 0\ntopic_id: id-7\n"[:torn_at])
    assert _read_topic_id(tmp_path) is None


@pytest.mark.parametrize("torn_at", range(len(b"0\n1\n4 0\n")))
def test_a_torn_first_epoch_checkpoint_is_rebuilt_from_the_batches(tmp_path, torn_at):
    clock, directory = ManualClock(), tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    plog.append_as_leader(batch(clock), 4)
    plog.close_unclean()
    checkpoint = directory / "leader-epoch-checkpoint"
    checkpoint.write_bytes(checkpoint.read_bytes()[:torn_at])
    reopened = PartitionLog(directory, LogConfig(), clock, Disk())
    assert reopened.epochs.entries == [(4, 0)]
    reopened.close()


def test_a_new_file_that_cannot_be_written_whole_is_not_left_behind(tmp_path):
    disk = Disk()
    disk.full = True
    with pytest.raises(OSError):
        disk.write_new_file(tmp_path / "f", b"data")
    assert not (tmp_path / "f").exists()
    (tmp_path / "g").write_bytes(b"old")
    Disk().write_new_file(tmp_path / "g", b"new")  # there after all: replaced whole
    assert (tmp_path / "g").read_bytes() == b"new"


def test_a_follower_s_first_batch_makes_its_files_too(tmp_path):
    clock = ManualClock()
    leader = PartitionLog(tmp_path / "leader", LogConfig(), clock, Disk())
    leader.append_as_leader(batch(clock), 3)
    follower = PartitionLog(tmp_path / "t-0", LogConfig(), clock, Disk(), topic_id="id-7")
    follower.append_as_follower(leader.read(0, 1 << 20))
    assert "topic_id: id-7" in (tmp_path / "t-0" / "partition.metadata").read_text()
    assert follower.epochs.entries == [(3, 0)] and follower.log_end_offset == 1
    leader.close()
    follower.close()
    reopened = PartitionLog(tmp_path / "t-0", LogConfig(), clock, Disk())
    assert reopened.epochs.entries == [(3, 0)] and reopened.log_end_offset == 1
    reopened.close()


def test_a_log_with_batches_but_no_topic_id_gets_it_when_opened(tmp_path):
    """Data from before directories kept their topic id: recorded at once, since no
    new batch may ever come to write it."""
    clock, directory = ManualClock(), tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    plog.append_as_leader(batch(clock), 0)
    plog.close()
    assert not (directory / "partition.metadata").exists()
    PartitionLog(directory, LogConfig(), clock, Disk(), topic_id="id-7").close()
    assert "topic_id: id-7" in (directory / "partition.metadata").read_text()


def test_a_segment_file_holding_data_is_not_taken_for_a_new_one(tmp_path):
    """The first append opens the file a new segment names: should it hold batches
    already, appending after them would put offsets out of order."""
    clock, directory = ManualClock(), tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    directory.mkdir()
    (directory / "00000000000000000000.log").write_bytes(batch(clock))
    with pytest.raises(FileExistsError):
        plog.append_as_leader(batch(clock), 0)
    assert plog.log_end_offset == 0
    plog.close_unclean()


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
    assert reopened.fresh, "nothing was written: nothing to open"
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
    directory.mkdir()
    (directory / "00000000000000000000.log").write_bytes(b"")  # made, then the crash
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
    """Left by a crash mid-compaction, say: it is not taken for new (its leftovers are
    cleaned), and opening it writes the recovery point as before."""
    clock, directory = ManualClock(), tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    plog.append_as_leader(batch(clock), 0)
    plog.close_unclean()
    (directory / ".cleaning").mkdir()
    disk = RecordingDisk()
    plog = PartitionLog(directory, LogConfig(), clock, disk)
    assert not plog.fresh and not (directory / ".cleaning").exists()
    assert disk.replaced == ["recovery-point"]
    plog.close()


def test_an_empty_log_restarted_writes_nothing(tmp_path):
    """A replica's directory left empty (by an older version, or a crash before its
    first batch went down): its recovery point (0) has not moved, so a restart of a
    broker with many such replicas makes no file for them."""
    directory = tmp_path / "t-0"
    directory.mkdir()
    disk = RecordingDisk()
    plog = PartitionLog(directory, LogConfig(), ManualClock(), disk)
    assert not plog.fresh and disk.replaced == [] and os.listdir(directory) == []
    plog.close_unclean()


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


def test_a_new_leader_writes_its_epoch_with_its_first_batch(tmp_path):
    """Becoming leader makes no checkpoint write; the first batch puts the epoch in the
    cache. Meanwhile a follower's question (the end of its latest epoch: one it holds
    records of) gets the answer it got when the epoch was written at once."""
    from mini_kafka.broker.partition import LEADER, Partition

    clock, directory = ManualClock(), tmp_path / "t-0"
    plog = PartitionLog(directory, LogConfig(), clock, Disk())
    part = Partition("t", 0, plog, 1, 0)
    part.apply_metadata({"leader": 1, "leader_epoch": 4, "partition_epoch": 0,
                         "replicas": [1, 2], "isr": [1, 2]}, clock.monotonic_ms())
    assert part.role == LEADER and not directory.exists()
    plog.append_as_leader(batch(clock), part.leader_epoch)
    assert plog.epochs.entries == [(4, 0)]
    assert (directory / "leader-epoch-checkpoint").read_text() == "0\n1\n4 0\n"

    plog.disk = disk = RecordingDisk()
    plog.epochs.disk = disk
    part.apply_metadata({"leader": 2, "leader_epoch": 5, "partition_epoch": 1,
                         "replicas": [1, 2], "isr": [1, 2]}, clock.monotonic_ms())
    part.apply_metadata({"leader": 1, "leader_epoch": 6, "partition_epoch": 2,
                         "replicas": [1, 2], "isr": [1, 2]}, clock.monotonic_ms())
    assert part.role == LEADER and disk.replaced == []
    assert plog.end_offset_for_epoch(4) == (4, 1)  # what epoch 6 at offset 1 would give
    plog.append_as_leader(batch(clock), part.leader_epoch)
    assert plog.epochs.entries == [(4, 0), (6, 1)] and disk.replaced == [
        "leader-epoch-checkpoint"]
    plog.close()

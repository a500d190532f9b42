"""The leader-epoch checkpoint is replaced at every change but synced with the log's
segments: a partition that becomes leader costs no fsync on the event loop (a hundred
brokers sharing one disk queued a thousand of them and stopped heartbeating)."""

from __future__ import annotations

from mini_kafka import records
from mini_kafka.broker.log import PartitionLog
from mini_kafka.broker.log.disk import Disk
from mini_kafka.broker.log.epochs import LeaderEpochCache
from mini_kafka.broker.log.log import LogConfig
from mini_kafka.clock import ManualClock

CONFIG = LogConfig()


class SyncCountingDisk(Disk):
    def __init__(self):
        super().__init__()
        self.synced: list[str] = []

    def write_file(self, path, data, fsync=False):
        if fsync:
            self.synced.append(path.name)
        super().write_file(path, data, fsync)

    def sync_file(self, path):
        self.synced.append(path.name)
        super().sync_file(path)


def test_a_new_epoch_is_written_at_once_and_synced_with_the_segment(tmp_path):
    disk = SyncCountingDisk()
    log = PartitionLog(tmp_path / "t-0", CONFIG, ManualClock(), disk)
    log.append_as_leader(records.encode_batch([(None, b"v", 0, None)]), leader_epoch=3)
    assert disk.synced == [], "no fsync while serving"
    assert LeaderEpochCache(tmp_path / "t-0").entries == [(3, 0)], "but already on disk"
    log.flush()
    assert disk.synced == ["leader-epoch-checkpoint"]
    log.flush()
    assert disk.synced == ["leader-epoch-checkpoint"], "nothing new: no second sync"
    log.close()
    assert LeaderEpochCache(tmp_path / "t-0").entries == [(3, 0)]


def test_a_roll_syncs_the_epochs_before_the_recovery_point_passes_them(tmp_path):
    disk = SyncCountingDisk()
    log = PartitionLog(tmp_path / "t-0", CONFIG, ManualClock(), disk)
    log.append_as_leader(records.encode_batch([(None, b"v", 0, None)]), leader_epoch=1)
    log.roll()
    assert "leader-epoch-checkpoint" in disk.synced
    assert log.recovery_point == log.log_end_offset
    log.close()

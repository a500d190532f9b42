"""Partition logs on disk: segments, indexes, leader epochs, retention, compaction."""

from mini_kafka.broker.log.compaction import CompactionStats, compact
from mini_kafka.broker.log.log import LogConfig, PartitionLog
from mini_kafka.broker.log.segment import CorruptSegmentError

__all__ = ["CompactionStats", "CorruptSegmentError", "LogConfig", "PartitionLog", "compact"]

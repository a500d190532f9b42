"""Replicas of one partition in memory, elected and fetching by hand: the data plane
without brokers, transport or time."""

from __future__ import annotations

from mini_kafka import records
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.broker.partition import Partition
from mini_kafka.clock import ManualClock


def replicas(tmp_path, ids=(1, 2, 3), clock=None) -> dict[int, Partition]:
    clock = clock or ManualClock()
    return {b: Partition("t", 0, PartitionLog(tmp_path / f"b{b}", LogConfig(), clock), b, 0)
            for b in ids}


def elect(parts, leader, epoch, isr=None) -> None:
    """Every replica applies the committed state: `leader` leads in `epoch`."""
    state = {"replicas": sorted(parts), "isr": sorted(isr or parts), "leader": leader,
             "leader_epoch": epoch, "partition_epoch": epoch}
    for p in parts.values():
        p.apply_metadata(state, 0)


def fetch_once(parts, follower):
    """One fetch round trip from `follower` to its leader; the leader's answer fields and
    what the follower made of them."""
    f = parts[follower]
    leader = parts[f.leader]
    offset = f.log.log_end_offset
    fields, data = leader.read(offset, 1 << 20, follower, f.log.epochs.latest_epoch, 0,
                               f.leader_epoch)
    return fields, f.apply_fetch(offset, {"error": "NONE", **fields}, data)


def write(part, n, acks=1):
    """One batch of `n` records appended by the leader `part`; its stamped header."""
    return part.append_as_leader(records.encode_batch([(None, b"v", 0, None)] * n), acks, 1)

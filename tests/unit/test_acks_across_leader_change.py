"""An acks=all write outlives a change of leader on the replica that appended it: it is
reported committed if the new leader kept it, lost only once it is cut from this log,
and never NOT_LEADER_OR_FOLLOWER ("not written") while it may still commit.

Found by the librdkafka chaos run: the old leader answered NOT_LEADER_OR_FOLLOWER for a
batch it had appended, it later committed, and librdkafka, told it was not written,
re-sent it under new sequence numbers after an epoch bump: stored twice."""

from __future__ import annotations

import asyncio

import pytest

from mini_kafka.errors import KafkaError
from tests.unit.replica_helpers import elect, fetch_once, replicas, write


def _pending(part, header):
    """The arguments the broker's acks=all wait passes for `header`."""
    return (header.base_offset, header.next_offset,
            part.log.epochs.epoch_at(header.base_offset))


def test_a_write_the_new_leader_kept_is_acknowledged_by_the_old_one(tmp_path):
    parts = replicas(tmp_path)
    elect(parts, 1, 0)
    header = write(parts[1], 3, acks=-1)
    pending = _pending(parts[1], header)
    fetch_once(parts, 2)  # broker 2 copies it; the HW has not passed it yet
    assert not parts[1].acked(*pending, 1)

    elect(parts, 2, 1)  # leadership moves while the producer waits
    assert not parts[1].acked(*pending, 1)  # neither lost nor committed yet
    for follower in (1, 3, 3, 1):  # the second round reports the first one's progress
        fetch_once(parts, follower)  # and broker 1 learns the HW the new ISR reached
    assert parts[1].hw >= header.next_offset
    assert parts[1].acked(*pending, 1)


def test_a_write_the_new_leader_never_had_is_reported_lost_once_cut(tmp_path):
    parts = replicas(tmp_path)
    elect(parts, 1, 0)
    write(parts[1], 2)
    for follower in (2, 3):
        fetch_once(parts, follower)
    header = write(parts[1], 3, acks=-1)  # only broker 1 holds it
    pending = _pending(parts[1], header)

    elect(parts, 2, 1)
    assert not parts[1].acked(*pending, 1)
    loop = asyncio.new_event_loop()
    try:
        waiter = loop.create_future()
        parts[1].add_waiter(waiter)
        fetch_once(parts, 1)  # the new leader says our tail diverges: it is cut
        assert waiter.done()  # the waiting produce learns at once
    finally:
        loop.close()
    with pytest.raises(KafkaError) as lost:
        parts[1].acked(*pending, 1)
    assert lost.value.error.name == "NOT_LEADER_OR_FOLLOWER"
    assert "cut from broker 1's log" in lost.value.message


def test_a_write_overwritten_by_a_later_epoch_is_lost_even_at_the_same_length(tmp_path):
    parts = replicas(tmp_path)
    elect(parts, 1, 0)
    header = write(parts[1], 3, acks=-1)
    pending = _pending(parts[1], header)
    elect(parts, 2, 1)
    write(parts[2], 3)  # broker 2 writes other records at the same offsets
    fetch_once(parts, 1)  # broker 1 is cut back to 0 ...
    fetch_once(parts, 1)  # ... and copies broker 2's records: same log end as before
    assert parts[1].log.log_end_offset == header.next_offset
    with pytest.raises(KafkaError, match="cut from broker 1's log"):
        parts[1].acked(*pending, 1)


def test_a_partition_no_longer_hosted_ends_the_wait(tmp_path):
    parts = replicas(tmp_path)
    elect(parts, 1, 0)
    header = write(parts[1], 1, acks=-1)
    pending = _pending(parts[1], header)
    parts[1].retire()
    with pytest.raises(KafkaError, match="no longer hosted on broker 1"):
        parts[1].acked(*pending, 1)


def test_a_committed_write_still_needs_min_insync_replicas(tmp_path):
    parts = replicas(tmp_path, ids=(1, 2))
    elect(parts, 1, 0, isr=[1])  # broker 2 fell out of the ISR
    header = write(parts[1], 1, acks=-1)
    with pytest.raises(KafkaError) as short:
        parts[1].acked(*_pending(parts[1], header), 2)
    assert short.value.error.name == "NOT_ENOUGH_REPLICAS_AFTER_APPEND"

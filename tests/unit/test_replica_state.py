"""Leader-side replica state and the idempotent producer table."""

from mini_kafka import records
from mini_kafka.broker.producer_state import ProducerStateTable
from mini_kafka.broker.replica import LeaderState

LAG_MS = 3000


def leader(isr=(1, 2, 3), leo=10, hw=10, now=0):
    return LeaderState(1, leader_epoch=5, partition_epoch=7, replicas=[1, 2, 3], isr=list(isr),
                       leo=leo, hw=hw, now_ms=now)


def test_hw_is_the_smallest_leo_over_the_isr_and_never_goes_back():
    s = leader()
    assert not s.on_local_append(20)  # followers have not fetched: HW stays 10
    assert not s.on_follower_fetch(2, 15, now_ms=1)
    assert s.on_follower_fetch(3, 12, now_ms=1) and s.hw == 12
    assert s.on_follower_fetch(3, 20, now_ms=2) and s.hw == 15
    s.on_follower_fetch(2, 11, now_ms=3)  # a stale fetch cannot pull the HW back
    assert s.hw == 15


def test_a_lagging_follower_is_dropped_and_rejoins_once_caught_up():
    s = leader(leo=10, hw=10, now=0)
    s.on_follower_fetch(2, 10, now_ms=100)
    s.on_follower_fetch(3, 10, now_ms=100)
    s.on_local_append(50)
    s.on_follower_fetch(2, 50, now_ms=1000)  # follower 3 stops fetching
    assert s.wanted_isr(now_ms=3000, lag_max_ms=LAG_MS) is None
    wanted = s.wanted_isr(now_ms=3101, lag_max_ms=LAG_MS)
    assert wanted == [1, 2]
    s.pending_isr = wanted
    assert s.wanted_isr(now_ms=4000, lag_max_ms=LAG_MS) is None, "one change at a time"
    s.on_isr_committed([1, 2], partition_epoch=8)
    assert s.on_follower_fetch(2, 50, now_ms=4000) or s.hw == 50
    s.on_follower_fetch(3, 30, now_ms=4100)
    assert s.wanted_isr(now_ms=4100, lag_max_ms=LAG_MS) is None, "not yet at the HW"
    s.on_follower_fetch(3, 50, now_ms=4200)
    assert s.wanted_isr(now_ms=4200, lag_max_ms=LAG_MS) == [1, 2, 3]


def test_a_pending_expansion_already_counts_for_the_hw():
    s = leader(isr=(1, 2), leo=10, hw=10)
    s.on_follower_fetch(2, 10, now_ms=1)
    s.on_follower_fetch(3, 10, now_ms=1)
    s.pending_isr = [1, 2, 3]
    s.on_local_append(20)
    s.on_follower_fetch(2, 20, now_ms=2)
    assert s.hw == 10, "follower 3 may be in the ISR already: wait for it too"
    s.on_follower_fetch(3, 20, now_ms=3)
    assert s.hw == 20


def test_joining_needs_the_leader_epoch_start_offset_too():
    s = leader(isr=(1,), leo=100, hw=40)
    s.on_follower_fetch(2, 60, now_ms=1)  # past the HW, short of the epoch start (100)
    assert s.wanted_isr(now_ms=2, lag_max_ms=LAG_MS) is None
    s.on_follower_fetch(2, 100, now_ms=3)
    assert s.wanted_isr(now_ms=3, lag_max_ms=LAG_MS) == [1, 2]


def batch(pid, epoch, seq, count, base_offset):
    raw = records.encode_batch([(None, b"v", 0, None)] * count, producer_id=pid,
                               producer_epoch=epoch, base_sequence=seq)
    return records.peek_header(records.stamp_prefix(records.peek_header(raw), base_offset, 0)
                               + raw[records.PREFIX_BYTES:])


def test_idempotent_producer_appends_in_order_and_answers_retries_with_old_offsets():
    t = ProducerStateTable()
    first = batch(7, 0, 0, 3, 100)
    assert t.check(first).action == "append"
    t.record(first)
    assert t.check(batch(7, 0, 0, 3, 999)).duplicate_of.first_offset == 100
    second = batch(7, 0, 3, 2, 103)
    assert t.check(second).action == "append"
    t.record(second)
    gap = t.check(batch(7, 0, 9, 1, 0))
    assert (gap.action, gap.error) == ("error", "OUT_OF_ORDER_SEQUENCE_NUMBER")
    assert t.check(batch(7, 0, 1, 1, 0)).error == "OUT_OF_ORDER_SEQUENCE_NUMBER"


def test_only_the_last_five_batches_are_remembered_and_epochs_fence_zombies():
    t = ProducerStateTable()
    for i in range(7):
        t.record(batch(7, 0, i, 1, i))
    assert t.check(batch(7, 0, 2, 1, 0)).action == "duplicate"
    assert t.check(batch(7, 0, 1, 1, 0)).action == "error"  # fell out of the window
    assert t.check(batch(7, 1, 0, 1, 0)).action == "append"  # a new epoch starts over
    t.record(batch(7, 1, 0, 1, 10))
    assert t.check(batch(7, 0, 7, 1, 0)).error == "INVALID_PRODUCER_EPOCH"
    assert t.check(batch(8, 0, 5, 1, 0)).error == "OUT_OF_ORDER_SEQUENCE_NUMBER"


def test_truncation_forgets_batches_that_left_the_log():
    t = ProducerStateTable()
    t.record(batch(7, 0, 0, 2, 0))
    t.record(batch(7, 0, 2, 2, 2))
    t.truncate_to(2)
    assert t.check(batch(7, 0, 2, 2, 0)).action == "append", "the retry must be written again"
    t.truncate_to(0)
    assert t.producers == {}


def _follower_with_epochs(tmp_path, spans):
    """A follower partition whose log holds `spans`: (epoch, count) batches in order."""
    from mini_kafka.broker.log import LogConfig, PartitionLog
    from mini_kafka.broker.partition import Partition
    from mini_kafka.clock import ManualClock

    plog = PartitionLog(tmp_path, LogConfig(), ManualClock())
    for epoch, count in spans:
        plog.append_as_leader(records.encode_batch([(None, b"x", 0, None)] * count), epoch)
    return Partition("t", 0, plog, broker_id=2, high_watermark=2)


def test_divergence_truncates_by_epoch_not_to_the_high_watermark(tmp_path):
    # Follower: epoch 1 at [0, 5), epoch 2 at [5, 9). The leader never had epoch 2; its
    # epoch 1 ran to offset 7. Everything below 5 is shared, so the cut is at 5 — not at
    # the follower's high watermark (2), which would throw away shared, committed data.
    part = _follower_with_epochs(tmp_path / "a", [(1, 5), (2, 4)])
    part.truncate_for_divergence(leader_epoch=1, leader_end_offset=7, leader_log_start=0)
    assert part.log.log_end_offset == 5
    # Same epoch on both sides, but the leader's ended earlier: cut at the leader's end.
    part = _follower_with_epochs(tmp_path / "b", [(1, 3), (3, 3), (3, 3)])
    part.truncate_for_divergence(leader_epoch=3, leader_end_offset=6, leader_log_start=0)
    assert part.log.log_end_offset == 6
    assert part.log.epochs.entries == [(1, 0), (3, 3)]


def test_a_leader_alone_in_its_isr_commits_its_log_end_at_once():
    s = LeaderState(1, leader_epoch=2, partition_epoch=3, replicas=[1, 2, 3], isr=[1],
                    leo=50, hw=0, now_ms=0)
    assert s.hw == 50, "no follower fetch is needed to learn what is committed"
    assert leader(isr=(1, 2), leo=50, hw=0).hw == 0, "with a follower, wait for its fetch"

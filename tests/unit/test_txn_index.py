"""The per-partition transaction index and the producer-state rules for transactions."""

from mini_kafka import records
from mini_kafka.broker.producer_state import ProducerStateTable
from mini_kafka.broker.txn_index import AbortedTxn, TransactionIndex


def header(base_offset, pid, *, count=1, transactional=True, control=False, seq=0, epoch=0):
    data = records.encode_batch([(None, b"x", 0, None)] * count, base_offset=base_offset,
                                producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                transactional=transactional, control=control)
    return records.validate_batch(data)


def test_open_transactions_hold_back_the_last_stable_offset_until_their_marker():
    idx = TransactionIndex()
    idx.on_batch(header(0, -1, transactional=False))
    idx.on_batch(header(1, 7, count=3))
    idx.on_batch(header(4, 8, count=2))
    idx.on_batch(header(6, 7, count=1, seq=3))  # a later batch of the same transaction
    assert idx.open == {7: 1, 8: 4}
    assert idx.last_stable_offset(7) == 1
    idx.on_batch(header(7, 7, control=True, seq=-1), commits=True)
    assert idx.last_stable_offset(8) == 4 and idx.aborted == []
    idx.on_batch(header(8, 8, control=True, seq=-1), commits=False)
    assert idx.last_stable_offset(9) == 9
    assert idx.aborted == [AbortedTxn(8, 4, 8)]
    assert idx.aborted_between(0, 4) == [], "nothing of it before its first offset"
    assert idx.aborted_between(5, 9) == [AbortedTxn(8, 4, 8)]
    assert idx.aborted_between(9, 20) == []
    idx.forget_before(9)
    assert idx.aborted == []


def test_markers_round_trip_and_coordinator_writes_skip_sequence_checks():
    commit = records.encode_marker(7, 2, True, 5, 1000)
    abort = records.encode_marker(7, 2, False, 5, 1000)
    assert records.marker_is_commit(commit) and not records.marker_is_commit(abort)
    h = records.validate_batch(commit)
    assert h.is_control and h.is_transactional and h.producer_id == 7 and h.base_sequence == -1
    table = ProducerStateTable()
    table.record(header(0, 7, seq=0, epoch=2))
    assert table.check(h).action == "append", "a marker has no sequence of its own"
    table.record(records.validate_batch(records.encode_marker(7, 3, False, 5, 0)))
    stale = header(1, 7, seq=1, epoch=2)
    assert table.check(stale).error == "INVALID_PRODUCER_EPOCH", "an abort with a bumped " \
                                                                  "epoch fences the old producer"
    assert table.check(header(1, 7, seq=0, epoch=3)).action == "append"

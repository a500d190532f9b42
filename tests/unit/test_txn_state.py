"""The transaction coordinator's rules: every transition, fencing and retry."""

import pytest

from mini_kafka.broker import txn_state as ts
from mini_kafka.errors import KafkaError


def ongoing():
    meta = ts.new_producer("tx", 7, 1000)
    return ts.add_partitions(meta, 7, 0, [("out", 0)], now_ms=100)


def error_of(fn, *args):
    with pytest.raises(KafkaError) as e:
        fn(*args)
    return e.value.error.name


def test_a_transaction_runs_from_empty_through_prepare_to_complete_and_again():
    meta = ongoing()
    assert (meta.state, meta.partitions, meta.started_ms) == (ts.ONGOING, {("out", 0)}, 100)
    meta = ts.add_partitions(meta, 7, 0, [("out", 1)], now_ms=500)
    assert meta.started_ms == 100, "the transaction's clock starts at its first partition"
    prepared = ts.prepare_end(meta, 7, 0, commit=True)
    assert prepared.state == ts.PREPARE_COMMIT and prepared.partitions == {("out", 0), ("out", 1)}
    assert error_of(ts.add_partitions, prepared, 7, 0, [("x", 0)], 600) == \
        "CONCURRENT_TRANSACTIONS"
    assert error_of(ts.prepare_end, prepared, 7, 0, True) == "CONCURRENT_TRANSACTIONS"
    done = ts.complete(prepared)
    assert done.state == ts.COMPLETE_COMMIT and not done.partitions
    assert ts.prepare_end(done, 7, 0, commit=True) is None, "a retried commit is answered"
    assert error_of(ts.prepare_end, done, 7, 0, False) == "INVALID_TXN_STATE"
    assert ts.add_partitions(done, 7, 0, [("out", 2)], 700).state == ts.ONGOING


def test_zombies_are_fenced_by_epoch_and_strangers_by_producer_id():
    meta = ongoing()
    assert error_of(ts.add_partitions, meta, 8, 0, [], 0) == "INVALID_PRODUCER_ID_MAPPING"
    assert error_of(ts.bump_epoch, meta, 1000) == "CONCURRENT_TRANSACTIONS", "abort it first"
    aborted = ts.complete(ts.prepare_end(meta, 7, 0, commit=False))
    newer = ts.bump_epoch(aborted, 2000)
    assert (newer.producer_epoch, newer.state, newer.timeout_ms) == (1, ts.EMPTY, 2000)
    assert error_of(ts.add_partitions, newer, 7, 0, [], 0) == "PRODUCER_FENCED"
    assert error_of(ts.prepare_end, newer, 7, 0, True) == "PRODUCER_FENCED"
    assert error_of(ts.prepare_end, newer, 7, 1, True) == "INVALID_TXN_STATE", "nothing open"
    assert ts.prepare_end(newer, 7, 1, commit=False) is None, "aborting nothing is fine"


def test_an_expired_transaction_is_aborted_with_a_bumped_epoch():
    meta = ongoing()
    assert not ts.expired(meta, 1100) and ts.expired(meta, 1101)
    aborting = ts.prepare_timeout_abort(meta)
    assert (aborting.state, aborting.producer_epoch) == (ts.PREPARE_ABORT, 1)
    assert error_of(ts.prepare_end, aborting, 7, 0, True) == "PRODUCER_FENCED"
    assert ts.complete(aborting).state == ts.COMPLETE_ABORT


def test_metadata_round_trips_through_its_record_and_timeouts_are_bounded():
    meta = ongoing()
    assert ts.TxnMeta.from_record("tx", meta.to_record()) == meta
    ts.check_timeout(1000, 900_000)
    assert error_of(ts.check_timeout, 0, 900_000) == "INVALID_TRANSACTION_TIMEOUT"
    assert error_of(ts.check_timeout, 900_001, 900_000) == "INVALID_TRANSACTION_TIMEOUT"

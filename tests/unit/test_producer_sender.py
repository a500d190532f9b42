"""The sender's guarantee, driven through a stand-in cluster: every record ends —
acknowledged or failed — within delivery_timeout_ms, whatever the cluster does (no
leader, a request that never returns, metadata that keeps failing, no producer id,
replies that make no sense), and nothing that goes wrong inside the loop stops it."""

from __future__ import annotations

import logging
import time

import pytest

from mini_kafka import records
from mini_kafka.errors import KafkaError, KafkaTimeoutError

pytestmark = pytest.mark.unit


def test_records_with_no_leader_fail_in_time_and_go_once_a_leader_is_back(stubbed):
    producer, view = stubbed(delivery_timeout_ms=300)
    view.leaderless = True
    view.refresh_error = KafkaError("NETWORK_EXCEPTION", "every broker is down")
    lost = producer.send("t", b"lost", partition=0)
    with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms.*no leader known for t-0"):
        lost.get(5)
    assert view.refreshes >= 1, "the producer asked for fresh metadata"
    view.leaderless, view.refresh_error = False, None
    assert producer.send("t", b"found", partition=0).get(5).offset == 0


def test_a_request_that_never_returns_fails_its_records_in_time(stubbed):
    producer, view = stubbed(delivery_timeout_ms=300, request_timeout_ms=60_000)
    view.hang = True
    stuck = producer.send("t", b"stuck", partition=1)
    with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms.*in flight"):
        stuck.get(5)
    behind = producer.send("t", b"behind it", partition=1)  # waits for the partition's slot
    with pytest.raises(KafkaTimeoutError, match="flush: 1 batch"):
        producer.flush(0.1)
    with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms.*queued"):
        behind.get(5)
    began = time.monotonic()
    producer.close(0.5)
    assert time.monotonic() - began < 3, "close(0.5) waited for the hung request"


def test_close_fails_what_it_could_not_deliver_within_its_timeout(stubbed):
    producer, view = stubbed(delivery_timeout_ms=60_000)
    view.hang = True
    futures = [producer.send("t", b"%d" % i, partition=i % 3) for i in range(30)]
    producer.close(0.2)
    for future in futures:
        with pytest.raises(KafkaTimeoutError, match=r"closed by close\(timeout=0.2\)"):
            future.get(0)
    with pytest.raises(KafkaError, match="closed"):
        producer.send("t", b"after close")


def test_no_producer_id_fails_records_in_time_with_the_reason(stubbed):
    producer, view = stubbed(delivery_timeout_ms=300)
    view.producer_id_error = KeyError("producer_id")  # a bug or a malformed reply
    future = producer.send("t", b"v")
    with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms.*producer id.*KeyError"):
        future.get(5)
    view.producer_id_error = None
    assert producer.send("t", b"v").get(5).offset == 0


def test_a_batch_the_codec_refuses_fails_alone_and_the_loop_goes_on(stubbed, monkeypatch,
                                                                   caplog):
    producer, view = stubbed()
    real = records.encode_columns

    def refuse_poison(keys, values, *args, **kwargs):
        if b"poison" in values:
            raise ValueError("cannot encode this")
        return real(keys, values, *args, **kwargs)

    monkeypatch.setattr(records, "encode_columns", refuse_poison)
    with caplog.at_level(logging.ERROR, logger="mini_kafka.client.producer"):
        poisoned = producer.send("t", b"poison", partition=0)
        with pytest.raises(ValueError, match="cannot encode this"):
            poisoned.get(5)
    assert "cannot send a batch for t-0" in caplog.text
    assert producer.send("t", b"healthy", partition=0).get(5).offset == 0
    assert producer.send("t", b"healthy", partition=1).get(5).offset == 1


def test_an_error_inside_a_sender_round_is_logged_and_the_loop_lives_on(stubbed, monkeypatch,
                                                                       caplog):
    producer, view = stubbed()
    real = type(producer)._dispatch
    calls = []

    def broken_once(self, ready):
        calls.append(len(ready))
        if len(calls) == 1:
            raise RuntimeError("a bug in dispatch")
        return real(self, ready)

    monkeypatch.setattr(type(producer), "_dispatch", broken_once)
    with caplog.at_level(logging.ERROR, logger="mini_kafka.client.producer"):
        first = producer.send("t", b"first", partition=0)
        with pytest.raises(RuntimeError, match="a bug in dispatch"):
            first.get(5)
    assert "unexpected error in the sender loop" in caplog.text
    assert producer.send("t", b"second", partition=0).get(5).offset == 0


@pytest.mark.parametrize("body", [
    {"error": "NONE", "partitions": [{"topic": "t", "partition": 0, "error": "NONE"}]},
    {"error": "NONE", "partitions": "nonsense"},
    {"error": "NONE"},
    {"error": "NONE", "partitions": [None]},
])
def test_a_malformed_produce_reply_fails_its_batch_and_the_producer_goes_on(stubbed, body):
    producer, view = stubbed()
    view.reply_body = body
    with pytest.raises(KafkaError, match="UNKNOWN_SERVER_ERROR: malformed produce reply"):
        producer.send("t", b"v", partition=0).get(5)
    view.reply_body = None
    assert producer.send("t", b"v", partition=0).get(5).offset == 0


def test_flush_waits_for_batches_already_in_flight(stubbed):
    producer, view = stubbed(delivery_timeout_ms=60_000)
    view.hang = True
    future = producer.send("t", b"v", partition=0)
    deadline = time.monotonic() + 5
    while not producer._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert producer._in_flight, "the batch went out"
    with pytest.raises(KafkaTimeoutError, match="flush: 1 batch"):
        producer.flush(0.1)  # it is not acknowledged: flush must not return as if it were
    assert not future.done()

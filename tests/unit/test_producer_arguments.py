"""Bad arguments are refused by the call they are passed to, with a TypeError or a
ValueError naming the argument, and the producer stays usable: one bad record used to
reach the sender loop, kill it, and time out every later send."""

from __future__ import annotations

import pytest

from mini_kafka.client import Producer, TopicPartition
from tests.unit.producer_stub import stub_producer

pytestmark = pytest.mark.unit


@pytest.fixture
def producer():
    p, _ = stub_producer()
    yield p
    p.close(1)


BAD_SENDS = [
    (dict(timestamp_ms="yesterday"), TypeError, "timestamp_ms"),
    (dict(timestamp_ms=1.5e12), TypeError, "timestamp_ms"),
    (dict(timestamp_ms=-1), ValueError, "timestamp_ms"),
    (dict(timestamp_ms=2**63), ValueError, "timestamp_ms"),
    (dict(timestamp_ms=True), TypeError, "timestamp_ms"),
    (dict(headers=[(b"k", b"v")]), TypeError, r"headers\[0\] key must be a str"),
    (dict(headers=[("k", "v")]), TypeError, r"headers\[0\] \('k'\) value must be bytes"),
    (dict(headers={"k": b"v"}), TypeError, "headers must be a list"),
    (dict(headers="k=v"), TypeError, "headers must be a list"),
    (dict(headers=[("k", b"v", b"extra")]), TypeError, r"headers\[0\] must be a \(key, value\)"),
    (dict(headers=[b"kv"]), TypeError, r"headers\[0\] must be a \(key, value\)"),
    (dict(partition="0"), TypeError, "partition must be an int"),
    (dict(partition=1.0), TypeError, "partition must be an int"),
    (dict(partition=True), TypeError, "partition must be an int"),
    (dict(partition=-1), ValueError, "partition=-1"),
    (dict(key="text"), TypeError, "key must be bytes or None, got str"),
    (dict(key=7), TypeError, "key must be bytes or None, got int"),
    (dict(value=["a"]), TypeError, "value must be bytes or None, got list"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD_SENDS,
                         ids=[f"{k}={v!r}" for k, _, _ in BAD_SENDS for k, v in k.items()])
def test_a_bad_send_argument_is_refused_and_the_producer_goes_on(producer, kwargs, error,
                                                                 message):
    call = {"value": b"v", **kwargs}
    with pytest.raises(error, match=message):
        producer.send("t", **call)
    assert producer._buffered == 0, "nothing of a refused record is buffered"
    assert producer.send("t", b"fine", headers=[("k", b"v"), ("none", None)],
                         timestamp_ms=1_700_000_000_000).get(5).offset >= 0


@pytest.mark.parametrize("topic,error,message", [
    (b"t", TypeError, "topic must be a str"),
    (["t"], TypeError, "topic must be a str"),
    (None, TypeError, "topic must be a str"),
    ("", ValueError, "not a valid topic name"),
    ("two words", ValueError, "not a valid topic name"),
    ("x" * 250, ValueError, "not a valid topic name"),
])
def test_a_bad_topic_is_refused_by_send_and_partitions_for(producer, topic, error, message):
    with pytest.raises(error, match=message):
        producer.send(topic, b"v")
    with pytest.raises(error, match=message):
        producer.partitions_for(topic)
    assert producer.send("t", b"fine").get(5).offset >= 0


def test_bytes_like_records_are_copied_so_the_caller_may_reuse_its_buffer(producer):
    buffer = bytearray(b"first")
    future = producer.send("t", buffer, key=memoryview(b"key"), partition=0,
                           headers=[("h", bytearray(b"hv"))])
    buffer[:] = b"XXXXX"
    future.get(5)
    batch = future._batch
    assert (batch.values[0], batch.keys[0], batch.headers[0]) == \
        (b"first", b"key", [("h", b"hv")])


def test_flush_and_close_refuse_a_timeout_that_is_not_seconds(producer):
    for bad, error in (("1", TypeError), (-1, ValueError), (float("nan"), TypeError)):
        with pytest.raises(error, match="timeout"):
            producer.flush(bad)
        with pytest.raises(error, match="timeout"):
            producer.close(bad)
    producer.send("t", b"still open").get(5)


def test_offsets_for_a_transaction_are_checked_before_anything_is_sent():
    p, _ = stub_producer()
    try:
        for offsets, message in (([("t", 0)], "offsets must be a dict"),
                                 ({"t": 5}, "offsets key must be a TopicPartition"),
                                 ({TopicPartition("t", 0): "5"}, "offset must be an int"),
                                 ({TopicPartition("t", 0): -2}, "offset=-2"),
                                 ({("t", 0): (5, 7)}, "metadata must be a str")):
            with pytest.raises((TypeError, ValueError), match=message):
                p.send_offsets_to_transaction(offsets, "g")
        with pytest.raises(TypeError, match="group must be a group id"):
            p.send_offsets_to_transaction({("t", 0): 5}, 42)
    finally:
        p.close(1)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(linger_ms="5"), TypeError, "linger_ms must be an int"),
    (dict(batch_size=0), ValueError, "batch_size=0"),
    (dict(delivery_timeout_ms=None), TypeError, "delivery_timeout_ms must be an int"),
    (dict(acks="two"), ValueError, "acks='two'"),
    (dict(acks=True), ValueError, "acks=True"),
    (dict(enable_idempotence="yes"), TypeError, "enable_idempotence"),
    (dict(value_serializer="json"), TypeError, "value_serializer must be callable"),
    (dict(transactional_id=""), TypeError, "transactional_id"),
])
def test_bad_producer_settings_are_refused_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        Producer("127.0.0.1:1", **kwargs)

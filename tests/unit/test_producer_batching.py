"""How the producer's accumulator cuts records into batches, with its sender stopped so
nothing leaves: sticky partitions for keyless records, batches that grow while their
partition has one in flight, and records too large to send at all."""

from __future__ import annotations

import random

import pytest

from mini_kafka.client import Producer
from mini_kafka.client.batch import Batch
from mini_kafka.client.sender import requests_within
from mini_kafka.errors import KafkaError

pytestmark = pytest.mark.unit

RECORD = b"x" * 76  # + 24 bytes of per-record overhead: 100 bytes accounted each


@pytest.fixture
def producer():
    p = Producer("127.0.0.1:1", acks=1, batch_size=1000, max_request_size=5000,
                 linger_ms=60_000, rng=random.Random(4))
    p._runtime.run(_stop(p))
    p._view.topics["t"] = [object()] * 3  # three partitions, known without a broker
    yield p
    p.close(0)


async def _stop(p):
    p._sender.cancel()


def batch_sizes(p, partition):
    return [len(b) for b in p._queues.get(("t", partition), [])]


def test_keyless_records_fill_a_batch_on_one_partition_then_move_on(producer):
    for _ in range(60):
        producer.send("t", RECORD)
    # Ten 100-byte records make a 1000-byte batch; each partition got two full batches.
    assert [batch_sizes(producer, p) for p in range(3)] == [[10, 10]] * 3


def test_a_batch_behind_one_in_flight_grows_up_to_max_request_size(producer):
    producer._in_flight[("t", 0)] = Batch("t", 0, created_s=0.0)
    for _ in range(70):
        producer.send("t", RECORD, partition=0)
    assert batch_sizes(producer, 0) == [50, 20]  # 5000-byte cap, not 1000
    producer._in_flight.clear()
    for _ in range(25):
        producer.send("t", RECORD, partition=1)
    assert batch_sizes(producer, 1) == [10, 10, 5]


def test_a_record_over_max_request_size_is_refused_and_nothing_is_buffered(producer):
    with pytest.raises(KafkaError, match="MESSAGE_TOO_LARGE"):
        producer.send("t", b"x" * 5000)
    assert producer._buffered == 0 and not any(producer._queues.values())


def test_values_must_be_bytes_unless_a_serializer_makes_them_so(producer):
    with pytest.raises(TypeError, match="value must be bytes or None, got str"):
        producer.send("t", "text")
    with pytest.raises(TypeError, match="key must be bytes or None, got int"):
        producer.send("t", b"v", key=7)
    producer.send("t", bytearray(b"v"), key=memoryview(b"k"))
    producer.value_serializer = str.encode
    producer.key_serializer = lambda k: None  # a serializer may make a key null
    producer.send("t", "text", key="dropped", partition=0)
    batch = producer._queues[("t", 0)][-1]
    assert (batch.keys[-1], batch.values[-1]) == (None, b"text")


def test_a_leaders_batches_are_cut_into_requests_within_max_request_size():
    batches = []
    for size in (400, 500, 200, 900, 1200, 100):
        b = Batch("t", len(batches), created_s=0.0)
        b.encoded = b"x" * size
        batches.append(b)
    cut = requests_within(batches, 1000)
    assert [[len(b.encoded) for b in r] for r in cut] == \
        [[400, 500], [200], [900], [1200], [100]]  # in order; an oversized batch alone

"""A producer dropped without close() still delivers what it took, then is collected and
its background thread ends; blocking calls from the client's own thread (a callback)
are refused instead of deadlocking."""

from __future__ import annotations

import gc
import weakref

import pytest

from mini_kafka.client import Admin, Producer
from mini_kafka.client.runtime import _open_clients
from tests.helpers import wait_until
from tests.unit.producer_stub import stub_producer

pytestmark = pytest.mark.unit


def collected(ref) -> bool:
    gc.collect()
    return ref() is None


def test_a_dropped_producer_delivers_its_records_then_is_collected():
    producer, view = stub_producer(linger_ms=50)
    futures = [producer.send("t", b"%d" % i) for i in range(100)]
    ref, thread = weakref.ref(producer), producer._runtime._thread
    del producer
    wait_until(lambda: all(f.done() for f in futures), what="the records to be delivered")
    assert [f.exception() for f in futures] == [None] * 100
    wait_until(lambda: collected(ref), what="the producer to be collected")
    thread.join(5)
    assert not thread.is_alive(), "its loop thread stopped"
    assert ref not in [weakref.ref(c) for c in _open_clients]


def test_an_idle_dropped_client_is_collected_and_its_thread_ends():
    for make in (Producer, Admin):
        client = make("127.0.0.1:1")
        ref, thread = weakref.ref(client), client._runtime._thread
        del client
        wait_until(lambda r=ref: collected(r), what="the client to be collected")
        thread.join(5)
        assert not thread.is_alive()


def test_a_callback_that_blocks_on_its_own_producer_is_refused():
    # A linger long enough that the callback is registered first, so the loop runs it.
    producer, _ = stub_producer(linger_ms=300)
    seen = []

    def callback(future):
        try:
            producer.close()
        except RuntimeError as e:
            seen.append(str(e))
        seen.append(producer.send("t", b"from a callback", partition=0))  # fine: no wait

    producer.send("t", b"v", partition=0).add_done_callback(callback)
    wait_until(lambda: len(seen) == 2, what="the callback")
    assert "from a send callback" in seen[0]
    assert seen[1].get(5).offset == 1
    producer.close(1)

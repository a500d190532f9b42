"""`mini-kafka perf e2e`: end-to-end latency, producer send -> consumer receive.

Producer and consumer run in this one process, so each record carries its send time
(this process's monotonic clock) in its first 8 bytes and the consumer subtracts. The
producer is paced to a fixed rate (as Kafka's EndToEndLatency tool is run at a fixed
rate) with linger 0: the figure is the latency of the path, not of batching.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mini_kafka.client import Consumer, Producer, TopicPartition
from mini_kafka.perf.clients import percentile

STAMP = struct.Struct(">d")


@dataclass
class LatencyResult:
    sent: int
    received: int
    latencies_ms: list[float]

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def lines(self) -> str:
        lat = self.latencies_ms or [0.0]
        return (f"{self.received} of {self.sent} records received; end-to-end latency: "
                f"avg {sum(lat) / len(lat):.2f} ms, 50th {self.percentile(0.5):.2f} ms, "
                f"95th {self.percentile(0.95):.2f} ms, 99th {self.percentile(0.99):.2f} ms, "
                f"99.9th {self.percentile(0.999):.2f} ms, max {max(lat):.2f} ms")


def measure(total: int, throughput: float, send: Callable[[bytes], None],
            flush: Callable[[], object], receive: Callable[[], list[bytes]],
            settle_timeout_s: float) -> list[float]:
    """Send `total` stamped records at `throughput` from a thread (send(stamp) appends
    the client's own padding), receive in this one until all are back or the settle
    time after the last send runs out; each record's latency in ms. Any client's."""
    latencies: list[float] = []
    done = threading.Event()

    def send_all() -> None:
        began = time.monotonic()
        for i in range(total):
            ahead_s = i / throughput - (time.monotonic() - began)
            if ahead_s > 0:
                time.sleep(ahead_s)  # pacing: the rate is the scenario
            send(STAMP.pack(time.monotonic()))
        flush()
        done.set()

    sender = threading.Thread(target=send_all, name="e2e-producer", daemon=True)
    sender.start()
    deadline = None
    while len(latencies) < total:
        if done.is_set() and deadline is None:
            deadline = time.monotonic() + settle_timeout_s
        if deadline is not None and time.monotonic() > deadline:
            break
        values = receive()
        now = time.monotonic()
        latencies += [(now - STAMP.unpack_from(v)[0]) * 1000 for v in values]
    sender.join()
    return latencies


def run(bootstrap: str, topic: str, throughput: float, duration_s: float,
        record_size: int = 100, acks="1", settle_timeout_s: float = 30.0) -> LatencyResult:
    if record_size < STAMP.size:
        raise ValueError(f"record size {record_size}: at least {STAMP.size} bytes (the "
                         "send time travels in the record)")
    padding = b"x" * (record_size - STAMP.size)
    total = max(1, int(throughput * duration_s))
    with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="latest",
                  fetch_max_wait_ms=100) as consumer, \
            Producer(bootstrap, acks=acks, linger_ms=0) as producer:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        for tp in tps:
            consumer.position(tp)  # pin "latest" now, before the first send

        def send(stamped: bytes) -> None:
            producer.send(topic, stamped + padding)

        def receive() -> list[bytes]:
            return [r.value for records in consumer.poll(100).values() for r in records]

        latencies = measure(total, throughput, send, producer.flush, receive,
                            settle_timeout_s)
    return LatencyResult(total, len(latencies), latencies)

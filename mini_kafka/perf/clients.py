"""`mini-kafka perf produce` and `perf consume`: Kafka's producer and consumer perf
tests, with their output formats, so figures compare line for line."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass

from mini_kafka.client import Consumer, Producer, TopicPartition

PROGRESS_INTERVAL_S = 5.0


def percentile(values: list[float], p: float) -> float:
    """The p-quantile (0..1) as Kafka's perf tools take it: the value at index p*n."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


@dataclass
class ProduceResult:
    records: int
    seconds: float
    record_size: int
    latencies_ms: list[float]
    errors: int

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.records_per_s * self.record_size / 1024 / 1024

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def kafka_line(self) -> str:
        lat = self.latencies_ms or [0.0]
        return (f"{self.records} records sent, {self.records_per_s:.1f} records/sec "
                f"({self.mb_per_s:.2f} MB/sec), {statistics.fmean(lat):.2f} ms avg latency, "
                f"{max(lat):.2f} ms max latency, {self.percentile(0.5):.0f} ms 50th, "
                f"{self.percentile(0.95):.0f} ms 95th, {self.percentile(0.99):.0f} ms 99th, "
                f"{self.percentile(0.999):.0f} ms 99.9th.")


def produce(bootstrap: str, topic: str, num_records: int, record_size: int,
            throughput: float = -1, out=sys.stdout, records_per_send: int = 1,
            **producer_config) -> ProduceResult:
    """Send num_records records of record_size bytes, at most `throughput` per second
    (-1: as fast as possible); latency is send to acknowledgement. records_per_send > 1
    sends that many per send_many() call, each record's latency its call's."""
    value = b"x" * record_size
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    window = {"count": 0, "bytes": 0, "lat": [], "began": time.monotonic()}

    def on_done(future) -> None:
        # Latency from the record's own timestamp (set at send, in ms, as Kafka's tool
        # measures): one callback for every record (or call), not a closure kept each.
        count = len(future) if records_per_send > 1 else 1
        if future.exception() is not None:
            with lock:
                errors[0] += count
            return
        stamp = future.timestamp if records_per_send > 1 else future.get().timestamp
        latency_ms = time.time() * 1000 - stamp
        with lock:
            latencies.extend([latency_ms] * count)
            window["count"] += count
            window["lat"].append(latency_ms)

    with Producer(bootstrap, **producer_config) as producer:
        began = time.monotonic()
        send, send_many = producer.send, producer.send_many
        chunk = [value] * records_per_send
        i = 0
        while i < num_records:
            if throughput > 0:
                ahead_s = i / throughput - (time.monotonic() - began)
                if ahead_s > 0:
                    time.sleep(ahead_s)  # pacing the workload, as Kafka's --throughput
            now_ms = int(time.time() * 1000)
            if records_per_send > 1:
                left = num_records - i
                send_many(topic, chunk if left >= records_per_send else chunk[:left],
                          timestamp_ms=now_ms).add_done_callback(on_done)
                i += min(left, records_per_send)
            else:
                send(topic, value, timestamp_ms=now_ms).add_done_callback(on_done)
                i += 1
            if (records_per_send > 1 or not i % 1000) and \
                    time.monotonic() - window["began"] >= PROGRESS_INTERVAL_S:
                _progress(window, record_size, lock, out)
        producer.flush()
        elapsed = time.monotonic() - began
    return ProduceResult(len(latencies), elapsed, record_size, latencies, errors[0])


def _progress(window, record_size, lock, out) -> None:
    with lock:
        seconds = time.monotonic() - window["began"]
        count, lat = window["count"], window["lat"] or [0.0]
        window.update(count=0, lat=[], began=time.monotonic())
    rate = count / seconds if seconds else 0
    print(f"{count} records sent, {rate:.1f} records/sec ({rate * record_size / 1048576:.2f} "
          f"MB/sec), {statistics.fmean(lat):.1f} ms avg latency, {max(lat):.1f} ms max "
          f"latency.", file=out, flush=True)


@dataclass
class ConsumeResult:
    records: int
    bytes: int
    start: float
    end: float
    rebalance_s: float = 0.0  # joining the group, before the first fetch

    def kafka_lines(self) -> str:
        seconds = max(self.end - self.start, 1e-9)
        fetch_s = max(seconds - self.rebalance_s, 1e-9)
        mb = self.bytes / 1024 / 1024

        def stamp(t):
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + \
                f":{int(t * 1000) % 1000:03d}"

        return ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
                "nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n"
                f"{stamp(self.start)}, {stamp(self.end)}, {mb:.4f}, {mb / seconds:.4f}, "
                f"{self.records}, {self.records / seconds:.4f}, {self.rebalance_s * 1000:.0f}, "
                f"{fetch_s * 1000:.0f}, {mb / fetch_s:.4f}, {self.records / fetch_s:.4f}")

    @property
    def records_per_s(self) -> float:
        return self.records / max(self.end - self.start, 1e-9)


def consume(bootstrap: str, topic: str, messages: int, timeout_s: float = 60.0,
            group_id: str | None = None) -> ConsumeResult:
    """Read `messages` records from the beginning of every partition of `topic` (or from
    the group's committed offsets, as a member of `group_id`)."""
    with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                  max_partition_fetch_bytes=4 * 1024 * 1024, group_id=group_id) as consumer:
        partitions = sorted(consumer.partitions_for_topic(topic))  # unknown topic: fails here
        if group_id is None:
            consumer.assign([TopicPartition(topic, p) for p in partitions])
        else:
            consumer.subscribe([topic])
        count = size = 0
        start = time.time()
        joined = None if group_id is not None else start
        deadline = time.monotonic() + timeout_s
        while count < messages and time.monotonic() < deadline:
            for recs in consumer.poll(1000).values():
                count += len(recs)
                size += sum(len(r.value or b"") for r in recs)
            if joined is None and consumer.assignment():
                joined = time.time()
        return ConsumeResult(min(count, messages), size, start, time.time(),
                             (joined or start) - start)

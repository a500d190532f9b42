"""Helpers for data-plane tests: a background producer and a full read-back."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from mini_kafka.client import Consumer, Producer, TopicPartition


class BackgroundProducer:
    """Sends `count` keyed records, value = b"<key>:<sequence within key>", from a thread;
    remembers each future so the test can tell acknowledged from failed."""

    def __init__(self, bootstrap: str, topic: str, count: int, keys: int = 100,
                 rate_per_s: int | None = None, **config):
        self.producer = Producer(bootstrap, **config)
        self.topic, self.count, self.keys = topic, count, keys
        self.rate_per_s = rate_per_s  # pace the workload so faults land while it runs
        self.sent: list[tuple[bytes, bytes, object]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> BackgroundProducer:
        self.thread.start()
        return self

    def _run(self) -> None:
        per_key = defaultdict(int)
        began = time.monotonic()
        try:
            for i in range(self.count):
                if self.rate_per_s and i % 500 == 0:
                    ahead_s = i / self.rate_per_s - (time.monotonic() - began)
                    if ahead_s > 0:
                        time.sleep(ahead_s)
                key = b"key-%d" % (i % self.keys)
                value = b"%s:%d" % (key, per_key[key])
                per_key[key] += 1
                self.sent.append((key, value, self.producer.send(self.topic, value, key=key)))
            self.producer.flush(300)
        except BaseException as e:  # surfaced by join()
            self.error = e

    def join(self) -> None:
        self.thread.join(600)
        assert not self.thread.is_alive(), "the producer did not finish"
        self.producer.close()
        if self.error:
            raise self.error

    def acknowledged(self) -> list[tuple[bytes, bytes, object]]:
        return [(k, v, f.result()) for k, v, f in self.sent if f.exception() is None]

    def failed(self) -> list[tuple[bytes, bytes, BaseException]]:
        return [(k, v, f.exception()) for k, v, f in self.sent if f.exception() is not None]


def read_all(bootstrap: str, topic: str, timeout_ms: int = 60_000):
    """Every record of the topic, from the beginning to each partition's current end."""
    with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest") as consumer:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + timeout_ms / 1000
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read the topic back in time"
            for recs in consumer.poll(1000).values():
                out.extend(recs)
        return out


def check_exactly_once_in_order(acked, records) -> None:
    """Every acknowledged record is present exactly once; per key, in send order and on one
    partition; offsets are never reused."""
    by_value = defaultdict(list)
    for r in records:
        by_value[r.value].append(r)
    offsets = {(r.partition, r.offset) for r in records}
    assert len(offsets) == len(records), "an offset holds two records"
    missing = [v for _, v, _ in acked if v not in by_value]
    assert not missing, f"{len(missing)} acknowledged record(s) lost, e.g. {missing[:5]}"
    dups = {v: rs for v, rs in by_value.items() if len(rs) > 1}
    assert not dups, f"{len(dups)} record(s) duplicated, e.g. {list(dups.items())[:2]}"
    partition_of_key, last_seq = {}, {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        key, seq = r.value.rsplit(b":", 1)
        assert partition_of_key.setdefault(key, r.partition) == r.partition, \
            f"{key} on two partitions"
        assert int(seq) > last_seq.get(key, -1), f"{key}: {seq} after {last_seq.get(key)}"
        last_seq[key] = int(seq)
    for _, value, meta in acked:
        (r,) = by_value[value]
        assert (r.partition, r.offset) == (meta.partition, meta.offset), \
            f"{value} acknowledged at {meta.partition}/{meta.offset}, found at " \
            f"{r.partition}/{r.offset}"

"""The chaos workload: idempotent producers writing unique keyed values, and a consumer
group reading and committing — every operation recorded to the run's history.

Values name their write (`p1-417`: producer 1's 417th send), so the checker can follow
each one from invocation to acknowledgement to the log. Producers pace themselves to a
fixed rate and cap what they have outstanding, so a stalled cluster shows up as failed
and indeterminate sends rather than as unbounded memory.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from launcher.history import History
from mini_kafka.client import Consumer, Producer, TopicPartition
from mini_kafka.errors import KafkaError

log = logging.getLogger("launcher.workload")


# Who drives the workload: mini-kafka's own client over the brokers' ZeroMQ endpoints, or
# an unchanged Kafka client (librdkafka, launcher/kafka_workload.py) over their Kafka
# listeners.
CLIENTS = ("mini-kafka", "kafka")


@dataclass(frozen=True)
class WorkloadSettings:
    client: str = "mini-kafka"
    topic: str = "chaos"
    partitions: int = 6
    producers: int = 3
    consumers: int = 3
    rate_per_producer_per_s: float = 100.0
    keys_per_producer: int = 12
    acks: str = "all"
    group: str = "chaos-group"
    outstanding_sends_max: int = 2000
    delivery_timeout_ms: int = 30_000
    request_timeout_ms: int = 5_000
    session_timeout_ms: int = 3_000
    heartbeat_interval_ms: int = 500
    poll_timeout_ms: int = 200


class Workload:
    def __init__(self, bootstrap: str, history: History, settings: WorkloadSettings):
        self.bootstrap = bootstrap
        self.history = history
        self.settings = settings
        self._stop_producing = threading.Event()
        self._stop_consuming = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    def start(self) -> Workload:
        s = self.settings
        for i in range(s.producers):
            self._spawn(f"producer-{i}", self._produce, i)
        for i in range(s.consumers):
            self._spawn(f"consumer-{i}", self._consume, i)
        return self

    def stop_producing(self, drain_timeout_s: float) -> None:
        """Stop sending and wait (bounded) until every send is acknowledged or failed."""
        self._stop_producing.set()
        self._join("producer", drain_timeout_s)

    def stop_consuming(self, timeout_s: float) -> None:
        self._stop_consuming.set()
        self._join("consumer", timeout_s)

    def stop(self, drain_timeout_s: float) -> None:
        self.stop_producing(drain_timeout_s)
        self.stop_consuming(drain_timeout_s)

    def _spawn(self, name, target, index) -> None:
        thread = threading.Thread(target=self._guarded, args=(name, target, index),
                                  name=f"chaos-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guarded(self, name, target, index) -> None:
        try:
            target(index)
        except Exception as e:  # recorded, so a broken workload cannot pass as valid
            # The verdict names it (workload_error); the stack only for whoever debugs.
            log.warning("%s died: %r", name, e, exc_info=log.isEnabledFor(logging.DEBUG))
            self.errors.append(f"{name}: {e!r}")
            self.history.record("workload_error", client=name, error=repr(e))

    def _join(self, prefix: str, timeout_s: float) -> None:
        for thread in self._threads:
            if thread.name.startswith(f"chaos-{prefix}"):
                thread.join(timeout_s)
                if thread.is_alive():
                    self.errors.append(f"{thread.name} did not stop within {timeout_s} s")

    # -- producers ----------------------------------------------------------------------

    def _produce(self, index: int) -> None:
        s = self.settings
        name = f"p{index}"
        producer = Producer(self.bootstrap, acks=s.acks, linger_ms=2,
                            delivery_timeout_ms=s.delivery_timeout_ms,
                            request_timeout_ms=s.request_timeout_ms, client_id=name)
        outstanding = threading.Semaphore(s.outstanding_sends_max)
        interval_s = 1 / s.rate_per_producer_per_s
        next_at = self.history.now()
        seq = 0
        try:
            while not self._stop_producing.is_set():
                # Pacing is the workload's shape, not a wait for a condition.
                if self._stop_producing.wait(max(0.0, next_at - self.history.now())):
                    break
                next_at += interval_s
                if not outstanding.acquire(timeout=1):
                    continue
                self._send_one(producer, name, seq, outstanding)
                seq += 1
        finally:
            try:
                producer.flush(timeout=s.delivery_timeout_ms / 1000)
            except KafkaError as e:
                self.history.record("workload_note", client=name, note=f"flush: {e}")
            producer.close(timeout=5)

    def _send_one(self, producer: Producer, name: str, seq: int, outstanding) -> None:
        s = self.settings
        value = f"{name}-{seq}"
        key = f"{name}-k{seq % s.keys_per_producer}"
        invoked = self.history.record("send", phase="invoke", producer=name, seq=seq,
                                      key=key, value=value)

        def done(future) -> None:
            outstanding.release()
            error = future.exception()
            common = {"producer": name, "seq": seq, "key": key, "value": value,
                      "invoked_t": invoked["t"]}
            if error is None:
                meta = future.result()
                self.history.record("send", phase="ok", partition=meta.partition,
                                    offset=meta.offset, **common)
            else:
                self.history.record("send", phase="fail", error=str(error), **common)
        try:
            producer.send(s.topic, value.encode(), key=key.encode()).add_done_callback(done)
        except KafkaError as e:  # refused before it was queued: certainly not written
            outstanding.release()
            self.history.record("send", phase="fail", producer=name, seq=seq, key=key,
                                value=value, error=str(e), invoked_t=invoked["t"])

    # -- consumers ----------------------------------------------------------------------

    def _consume(self, index: int) -> None:
        s = self.settings
        name = f"c{index}"
        epoch = [0]

        def assigned(partitions: list[TopicPartition]) -> None:
            epoch[0] += 1
            self.history.record("assign", consumer=name, epoch=epoch[0],
                                partitions=sorted(tp.partition for tp in consumer.assignment()))

        def revoked(partitions: list[TopicPartition]) -> None:
            epoch[0] += 1  # what was read before a revoke belongs to the old assignment
            self.history.record("assign", consumer=name, epoch=epoch[0],
                                partitions=sorted(tp.partition for tp in consumer.assignment()
                                                  if tp not in partitions))

        consumer = Consumer(bootstrap_servers=self.bootstrap, group_id=s.group,
                            client_id=name, enable_auto_commit=False,
                            auto_offset_reset="earliest",
                            request_timeout_ms=s.request_timeout_ms,
                            session_timeout_ms=s.session_timeout_ms,
                            heartbeat_interval_ms=s.heartbeat_interval_ms)
        try:
            consumer.subscribe([s.topic], on_assign=assigned, on_revoke=revoked)
            while not self._stop_consuming.is_set():
                try:
                    polled = consumer.poll(s.poll_timeout_ms)
                except KafkaError as e:
                    self.history.record("workload_note", client=name, note=f"poll: {e}")
                    self._stop_consuming.wait(0.2)  # back off before asking again
                    continue
                records = [[r.partition, r.offset, r.value.decode()]
                           for recs in polled.values() for r in recs]
                if not records:
                    continue
                self.history.record("poll", consumer=name, epoch=epoch[0], records=records)
                self._commit(consumer, name, {tp: recs[-1].offset + 1
                                              for tp, recs in polled.items() if recs})
        finally:
            consumer.close(autocommit=False)

    def _commit(self, consumer: Consumer, name: str, offsets: dict) -> None:
        """At-least-once: commit what was just read, after reading it."""
        recorded = {tp.partition: offset for tp, offset in offsets.items()}
        try:
            consumer.commit(offsets)
            self.history.record("commit", phase="ok", consumer=name, offsets=recorded)
        except KafkaError as e:
            self.history.record("commit", phase="fail", consumer=name, offsets=recorded,
                                error=str(e))

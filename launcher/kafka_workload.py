"""The chaos workload with unchanged Kafka clients: librdkafka (confluent-kafka) producers
and a librdkafka consumer group over the brokers' Kafka listeners, recording the same
history as mini-kafka's own client does, so the same checker judges it.

Producers are idempotent with acks=all, as Kafka's default producer is since 3.0;
delivery reports arrive from poll(), which each producer thread calls between sends.
Consumers commit what they read, synchronously, after reading it (at-least-once).
"""

from __future__ import annotations

import logging
import threading

from launcher.workload import Workload

log = logging.getLogger("launcher.kafka_workload")


class _AsDebug:
    """Where librdkafka's own log lines go: it reports every connection a fault breaks
    (refused, reset) as an error on stderr, hundreds per run, while the run's history
    already records what each break cost. Kept at debug level in our logging."""

    def log(self, level: int, fmt: str, *args) -> None:
        log.debug(fmt, *args)


LIBRDKAFKA_LOG = _AsDebug()


def _confluent():
    try:
        import confluent_kafka
    except ImportError:
        raise RuntimeError("--client kafka drives confluent-kafka (librdkafka): "
                           "pip install 'mini-kafka[kafka-clients]'") from None
    return confluent_kafka


class KafkaClientWorkload(Workload):
    """`bootstrap` is the cluster's Kafka bootstrap list (Cluster.kafka_bootstrap)."""

    def _produce(self, index: int) -> None:
        ck = _confluent()
        s = self.settings
        name = f"p{index}"
        producer = ck.Producer({
            "bootstrap.servers": self.bootstrap, "client.id": name, "linger.ms": 2,
            "logger": LIBRDKAFKA_LOG,
            "acks": "all" if s.acks == "all" else s.acks,
            "enable.idempotence": s.acks == "all",
            "delivery.timeout.ms": s.delivery_timeout_ms,
            "request.timeout.ms": s.request_timeout_ms})
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
                producer.poll(0)  # delivery reports run here
                if not outstanding.acquire(timeout=1):
                    continue
                self._send_one_rd(producer, name, seq, outstanding)
                seq += 1
        finally:
            left = producer.flush(s.delivery_timeout_ms / 1000)
            if left:
                self.history.record("workload_note", client=name,
                                    note=f"flush: {left} record(s) still unanswered")

    def _send_one_rd(self, producer, name: str, seq: int, outstanding) -> None:
        s = self.settings
        value = f"{name}-{seq}"
        key = f"{name}-k{seq % s.keys_per_producer}"
        invoked = self.history.record("send", phase="invoke", producer=name, seq=seq,
                                      key=key, value=value)
        common = {"producer": name, "seq": seq, "key": key, "value": value,
                  "invoked_t": invoked["t"]}

        def report(error, msg) -> None:
            outstanding.release()
            if error is None:
                self.history.record("send", phase="ok", partition=msg.partition(),
                                    offset=msg.offset(), **common)
            else:
                self.history.record("send", phase="fail", error=str(error), **common)
        try:
            producer.produce(s.topic, value=value.encode(), key=key.encode(),
                             on_delivery=report)
        except (BufferError, _confluent().KafkaException) as e:  # refused: never queued
            outstanding.release()
            self.history.record("send", phase="fail", error=str(e), **common)

    def _consume(self, index: int) -> None:
        ck = _confluent()
        s = self.settings
        name = f"c{index}"
        epoch = [0]
        consumer = ck.Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": s.group, "client.id": name,
            "logger": LIBRDKAFKA_LOG,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": s.session_timeout_ms,
            "heartbeat.interval.ms": s.heartbeat_interval_ms,
            "isolation.level": "read_committed"})

        def assigned(c, partitions) -> None:
            epoch[0] += 1
            self.history.record("assign", consumer=name, epoch=epoch[0],
                                partitions=sorted(tp.partition for tp in partitions))

        def revoked(c, partitions) -> None:
            epoch[0] += 1  # what was read before a revoke belongs to the old assignment
            self.history.record("assign", consumer=name, epoch=epoch[0], partitions=[])

        try:
            consumer.subscribe([s.topic], on_assign=assigned, on_revoke=revoked)
            while not self._stop_consuming.is_set():
                messages = consumer.consume(500, s.poll_timeout_ms / 1000)
                errors = [m.error() for m in messages if m.error()]
                for error in errors:
                    self.history.record("workload_note", client=name, note=f"poll: {error}")
                good = [m for m in messages if not m.error()]
                if not good:
                    continue
                self.history.record("poll", consumer=name, epoch=epoch[0], records=[
                    [m.partition(), m.offset(), m.value().decode()] for m in good])
                ends = {}
                for m in good:
                    ends[m.partition()] = m.offset() + 1
                self._commit_rd(ck, consumer, name, ends)
        finally:
            consumer.close()

    def _commit_rd(self, ck, consumer, name: str, ends: dict[int, int]) -> None:
        offsets = [ck.TopicPartition(self.settings.topic, p, o) for p, o in ends.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            self.history.record("commit", phase="ok", consumer=name, offsets=ends)
        except ck.KafkaException as e:
            self.history.record("commit", phase="fail", consumer=name, offsets=ends,
                                error=str(e))

"""Driving unchanged Kafka clients (confluent-kafka/librdkafka, kafka-python, aiokafka,
kcat) against a cluster's Kafka listeners, with deadlines everywhere: a client that
hangs fails the test instead of the run."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def kcat(*args: str, stdin: str | None = None, timeout_s: float = 30) -> str:
    assert KCAT, "kcat is not installed (Debian: apt-get install kcat; .ci/run installs it)"
    out = subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True,
                         timeout=timeout_s)
    assert out.returncode == 0, f"kcat {' '.join(args)} failed: {out.stderr}"
    return out.stdout


def kcat_metadata(bootstrap: str) -> dict:
    return json.loads(kcat("-b", bootstrap, "-L", "-J"))


def produce(bootstrap: str, topic: str, rows, timeout_s: float = 60, **conf) -> list:
    """Send (key, value) rows with librdkafka; returns each delivery's (error, partition,
    offset), in send order."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    reports: list = [None] * len(rows)

    def report(i):
        def cb(err, msg):
            reports[i] = (err, msg.partition(), msg.offset())
        return cb

    for i, (key, value) in enumerate(rows):
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=report(i))
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(timeout_s)
    assert left == 0, f"{left} record(s) not delivered within {timeout_s} s"
    return reports


def consume(bootstrap: str, topic: str, count: int, timeout_s: float = 60,
            partitions: int | None = None, **conf) -> list:
    """Read `count` records from the start of every partition (assigned, no group unless
    conf names one with subscribe=True); returns messages in arrival order."""
    subscribe = conf.pop("subscribe", False)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": conf.pop(
        "group.id", f"reader-{time.monotonic_ns()}"), "auto.offset.reset": "earliest",
        "enable.auto.commit": False, **conf})
    try:
        if subscribe:
            consumer.subscribe([topic])
        else:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            count_p = partitions or len(meta.partitions)
            consumer.assign([TopicPartition(topic, p, 0) for p in range(count_p)])
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF
                    continue
                raise KafkaException(msg.error())
            got.append(msg)
        assert len(got) >= count, f"read {len(got)} of {count} records within {timeout_s} s"
        return got
    finally:
        consumer.close()


def aio(coro, timeout_s: float = 60):
    async def bounded():
        async with asyncio.timeout(timeout_s):
            return await coro
    return asyncio.run(bounded())

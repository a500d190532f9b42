"""The perf scenarios with unchanged Kafka clients over the brokers' Kafka listeners:
confluent-kafka (librdkafka behind a Python binding) with Kafka's perf-tool output, and
kcat (librdkafka's own C tool), whose client costs nothing measurable in Python — the
figure where the broker, not the client, sets the pace.

Results are the same types as mini-kafka's own client's (mini_kafka/perf/clients.py,
e2e.py), so `perf bench` puts them side by side.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mini_kafka.perf.clients import ConsumeResult, ProduceResult
from mini_kafka.perf.e2e import STAMP, LatencyResult, measure


def _confluent():
    try:
        import confluent_kafka
    except ImportError:
        raise RuntimeError("the Kafka-client perf scenarios drive confluent-kafka: "
                           "pip install 'mini-kafka[kafka-clients]'") from None
    return confluent_kafka


def _kcat() -> str:
    found = shutil.which("kcat") or shutil.which("kafkacat")
    if not found:
        raise RuntimeError("kcat is not installed (Debian: apt-get install kcat)")
    return found


PRODUCER_CONFIG = {"linger.ms": 5, "batch.size": 1_000_000,
                   "queue.buffering.max.messages": 2_000_000,
                   "queue.buffering.max.kbytes": 1_048_576}


def produce(bootstrap: str, topic: str, num_records: int, record_size: int,
            acks: str = "all", throughput: float = -1, **conf) -> ProduceResult:
    """librdkafka's producer from Python; latency is librdkafka's own per-record figure
    (produce() to acknowledgement). acks=all is idempotent, as Kafka's default is."""
    ck = _confluent()
    producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": acks,
                            "enable.idempotence": acks in ("all", "-1"),
                            **PRODUCER_CONFIG, **conf})
    value = b"x" * record_size
    latencies: list[float] = []
    errors = [0]

    def report(err, msg) -> None:
        if err is not None:
            errors[0] += 1
        else:
            latencies.append(msg.latency() * 1000)

    began = time.monotonic()
    send = producer.produce
    for i in range(num_records):
        if throughput > 0:
            ahead_s = i / throughput - (time.monotonic() - began)
            if ahead_s > 0:
                time.sleep(ahead_s)  # pacing the workload, as Kafka's --throughput
        while True:
            try:
                send(topic, value, on_delivery=report)
                break
            except BufferError:  # librdkafka's queue is full: serve reports, then retry
                producer.poll(0.005)
        if not i & 0x3FF:
            producer.poll(0)
    left = producer.flush(300)
    elapsed = time.monotonic() - began
    return ProduceResult(len(latencies), elapsed, record_size, latencies, errors[0] + left)


def consume(bootstrap: str, topic: str, messages: int, timeout_s: float = 60.0
            ) -> ConsumeResult:
    """Read `messages` records from the start of every partition, in librdkafka's batches."""
    ck = _confluent()
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "perf-consume",
                            "enable.auto.commit": False, "fetch.max.bytes": 50 * 1024 * 1024,
                            "max.partition.fetch.bytes": 4 * 1024 * 1024,
                            "isolation.level": "read_uncommitted"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            raise RuntimeError(f"{topic}: {meta.error}")
        consumer.assign([ck.TopicPartition(topic, p, 0) for p in meta.partitions])
        count = size = 0
        start = time.time()
        deadline = time.monotonic() + timeout_s
        while count < messages and time.monotonic() < deadline:
            for m in consumer.consume(10_000, 0.5):
                if m.error() is None:
                    count += 1
                    size += len(m.value())
        return ConsumeResult(min(count, messages), size, start, time.time())
    finally:
        consumer.close()


def e2e(bootstrap: str, topic: str, throughput: float, duration_s: float,
        record_size: int = 100, acks: str = "1", settle_timeout_s: float = 30.0
        ) -> LatencyResult:
    """Send -> receive latency at a fixed rate, producer and consumer in this process
    (each record carries its send time), with the producer's default linger."""
    ck = _confluent()
    total = max(1, int(throughput * duration_s))
    padding = b"x" * max(0, record_size - STAMP.size)
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "perf-e2e",
                            "enable.auto.commit": False, "auto.offset.reset": "latest",
                            "fetch.wait.max.ms": 100, "fetch.min.bytes": 1})
    # librdkafka's own linger (5 ms), as its users run it: with linger 0 every record is
    # a request of its own, and 10,000 produce requests a second swamp the brokers.
    producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": acks})
    latencies: list[float] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [ck.TopicPartition(topic, p, consumer.get_watermark_offsets(
            ck.TopicPartition(topic, p), timeout=10)[1]) for p in partitions]
        consumer.assign(ends)

        def send(stamped: bytes) -> None:
            producer.produce(topic, stamped + padding)
            producer.poll(0)

        def receive() -> list[bytes]:
            # poll() returns with the first record; consume(n, t) would wait out t
            # unless n arrive, which is a batching delay, not the path's latency.
            first = consumer.poll(0.1)
            if first is None:
                return []
            return [m.value() for m in [first, *consumer.consume(1000, 0)]
                    if m.error() is None]

        latencies = measure(total, throughput, send, lambda: producer.flush(60), receive,
                            settle_timeout_s)
    finally:
        consumer.close()
    return LatencyResult(total, len(latencies), latencies)


def kcat_produce(bootstrap: str, topic: str, num_records: int, record_size: int,
                 acks: str = "all") -> ProduceResult:
    """kcat sends num_records lines from a file, as fast as librdkafka goes; the figure
    is the whole run (kcat's start-up included, a few ms), latency is not reported."""
    kcat = _kcat()
    line = b"x" * max(0, record_size) + b"\n"
    with tempfile.TemporaryDirectory(prefix="mini-kafka-kcat-") as tmp:
        data = Path(tmp) / "records.txt"
        data.write_bytes(line * num_records)
        options = [f"{k}={v}" for k, v in {**PRODUCER_CONFIG, "acks": acks,
                                           "enable.idempotence": str(acks in ("all", "-1"))
                                           .lower()}.items()]
        command = [kcat, "-b", bootstrap, "-P", "-t", topic, "-l", str(data)]
        for option in options:
            command += ["-X", option]
        began = time.monotonic()
        out = subprocess.run(command, capture_output=True, text=True, timeout=600)
        elapsed = time.monotonic() - began
    if out.returncode != 0:
        raise RuntimeError(f"kcat failed: {out.stderr.strip()}")
    return ProduceResult(num_records, elapsed, record_size, [], 0)


def kcat_consume(bootstrap: str, topic: str, messages: int, timeout_s: float = 120.0
                 ) -> ConsumeResult:
    kcat = _kcat()
    command = [kcat, "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-q", "-c",
               str(messages), "-f", "%S\\n", "-X", "fetch.max.bytes=52428800",
               "-X", "max.partition.fetch.bytes=4194304"]
    start = time.time()
    out = subprocess.run(command, capture_output=True, timeout=timeout_s)
    end = time.time()
    if out.returncode != 0:
        raise RuntimeError(f"kcat failed: {out.stderr.decode(errors='replace').strip()}")
    sizes = out.stdout.split()
    return ConsumeResult(len(sizes), sum(int(s) for s in sizes), start, end)

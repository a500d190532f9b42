"""`mini-kafka perf ceiling`: the transport's ceiling on this machine, measured with the
same batches the perf scenarios send, between two processes, no broker logic."""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass

from mini_kafka import records
from mini_kafka.transport.ceiling import Pusher

WINDOW_MESSAGES = 5  # a producer's max in-flight requests per connection, as in Kafka
SINK_START_TIMEOUT_S = 10.0


@dataclass
class Ceiling:
    record_size: int
    records_per_batch: int
    batch_bytes: int
    batches_per_s: float
    round_trip_ms_p50: float
    transport: str = "raw ZeroMQ"

    @property
    def records_per_s(self) -> float:
        return self.batches_per_s * self.records_per_batch

    @property
    def mb_per_s(self) -> float:
        return self.batches_per_s * self.batch_bytes / 1024 / 1024

    def line(self) -> str:
        return (f"{self.transport}, {self.record_size}-byte records in {self.batch_bytes}-byte "
                f"batches of {self.records_per_batch}: {self.records_per_s:,.0f} records/s "
                f"({self.mb_per_s:.1f} MB/s); round trip 50th {self.round_trip_ms_p50:.3f} ms")


def sample_batch(record_size: int, batch_bytes_max: int) -> tuple[bytes, int]:
    """A real record batch as the producer builds it: as many records as fit."""
    value = b"x" * record_size

    def batch(count: int) -> bytes:
        return records.encode_batch([(None, value, 0, None)] * count)

    one, two = len(batch(1)), len(batch(2))
    count = max(1, 1 + (batch_bytes_max - one) // (two - one))
    while count > 1 and len(batch(count)) > batch_bytes_max:
        count -= 1
    return batch(count), count


def measure(endpoint: str, record_size: int, batch_bytes_max: int = 16384,
            seconds: float = 2.0, round_trips: int = 2000) -> Ceiling:
    batch, count = sample_batch(record_size, batch_bytes_max)
    sink = subprocess.Popen([sys.executable, "-m", "mini_kafka.transport.ceiling", endpoint])
    pusher = Pusher(endpoint, timeout_ms=int(SINK_START_TIMEOUT_S * 1000))
    try:
        pusher.push(batch, 100, WINDOW_MESSAGES)  # connected and warm
        n = 200
        while (took := pusher.push(batch, n, WINDOW_MESSAGES)) < seconds / 4:
            n *= 2
        took = pusher.push(batch, n * 4, WINDOW_MESSAGES)
        rtt = statistics.median(pusher.round_trips_ms(b"p", round_trips))
        pusher.stop_sink()
        sink.wait(timeout=SINK_START_TIMEOUT_S)
    finally:
        pusher.close()
        if sink.poll() is None:
            sink.kill()
            sink.wait()
    return Ceiling(record_size, count, len(batch), n * 4 / took, rtt)


def median_of(endpoint_for, record_size: int, batch_bytes_max: int, repeats: int,
              seconds: float = 2.0) -> Ceiling:
    """The median run of `repeats` (by throughput): the machine is shared and noisy."""
    runs = [measure(endpoint_for(), record_size, batch_bytes_max, seconds)
            for _ in range(repeats)]
    runs.sort(key=lambda c: c.batches_per_s)
    return runs[len(runs) // 2]

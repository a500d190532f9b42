"""`mini-kafka perf storage`: the record codec and the partition log, against a plain
file write of the same bytes in the same run."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mini_kafka import records
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.clock import SystemClock


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # the same bytes through a plain file, where it applies


def _median_rate(work, amount: float, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        rates.append(amount / (time.perf_counter() - began))
    return statistics.median(rates)


def run(num_records: int = 200_000, value_bytes: int = 100, batch_records: int = 160,
        repeats: int = 5) -> list[Figure]:
    now = SystemClock().wall_ms()
    value = b"x" * value_bytes
    batch_input = [(None, value, now, None)] * batch_records
    batches = num_records // batch_records
    encoded = [records.encode_batch(batch_input) for _ in range(batches)]
    total_bytes = sum(len(b) for b in encoded)
    mb = total_bytes / 1e6
    figures = [
        Figure("encode", _median_rate(
            lambda: [records.encode_batch(batch_input) for _ in range(batches)],
            num_records, repeats), "records/s"),
        Figure("decode (CRC checked)", _median_rate(
            lambda: [records.decode_batch(b) for b in encoded], num_records, repeats),
            "records/s"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        counter = iter(range(10**9))

        # Opening and closing (the close fsyncs) stay outside the timed loops, for both;
        # the two alternate within each repeat, so page-cache writeback hits both alike.
        def timed_append(append_one, open_sink, close_sink) -> float:
            sink = open_sink(tmp / f"sink-{next(counter)}")
            began = time.perf_counter()
            for b in encoded:
                append_one(sink, b)
            rate = mb / (time.perf_counter() - began)
            close_sink(sink)
            return rate

        plain_rates, log_rates = [], []
        for _ in range(repeats):
            plain_rates.append(timed_append(
                os.write, lambda p: os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND),
                os.close))
            log_rates.append(timed_append(
                lambda plog, b: plog.append_as_leader(b, 0),
                lambda p: PartitionLog(p, LogConfig(), SystemClock()), PartitionLog.close))
        figures.append(Figure("log append", statistics.median(log_rates), "MB/s",
                              statistics.median(plain_rates)))
        plog = PartitionLog(tmp / "read", LogConfig(), SystemClock())
        for b in encoded:
            plog.append_as_leader(b, 0)
        plain_path = tmp / "sink-0"

        def plain_read():
            with open(plain_path, "rb", buffering=0) as f:
                while f.read(1 << 20):
                    pass

        def log_read():
            offset = 0
            while offset < plog.log_end_offset:
                data = plog.read(offset, 1 << 20)
                last = list(records.iter_headers(data))[-1][1]
                offset = last.next_offset

        plain_rate = _median_rate(plain_read, mb, repeats)
        figures.append(Figure("log read (1 MiB fetches)", _median_rate(log_read, mb, repeats),
                              "MB/s", plain_rate))
        plog.close()
        figures += _reopened(tmp, encoded, mb, repeats, plain_rate)
    return figures


def _reopened(tmp: Path, encoded: list[bytes], mb: float, repeats: int,
              plain_rate: float) -> list[Figure]:
    """What the log's own checks cost after a restart: an open validates by CRC every
    segment past the recovery point (here: all of them, as if nothing had been flushed),
    and reads of the segments it opened without reading are CRC-checked as served."""
    # Segments of a few MiB: most are trusted after the reopen, and a 1 MiB read still
    # rarely stops at a segment's end.
    config = LogConfig(segment_bytes=max(4 * 1024 * 1024, len(encoded[0]) * 4))
    directory = tmp / "reopened"
    plog = PartitionLog(directory, config, SystemClock())
    for b in encoded:
        plog.append_as_leader(b, 0)
    plog.close()
    open_rates = []
    for _ in range(repeats):
        (directory / "recovery-point").unlink(missing_ok=True)  # as if nothing was flushed
        began = time.perf_counter()
        plog = PartitionLog(directory, config, SystemClock())
        open_rates.append(mb / (time.perf_counter() - began))
        plog.close()
    plog = PartitionLog(directory, config, SystemClock())  # all but the active segment trusted

    def checked_read():
        offset = 0
        while offset < plog.log_end_offset:
            data = plog.read(offset, 1 << 20)
            offset = list(records.iter_headers(data))[-1][1].next_offset

    figures = [Figure("log open (validating)", statistics.median(open_rates), "MB/s",
                      plain_rate),
               Figure("log read after reopen", _median_rate(checked_read, mb, repeats),
                      "MB/s", plain_rate)]
    plog.close()
    return figures


def format_figures(figures: list[Figure]) -> str:
    lines = [f"{'figure':<26}{'value':>14}  {'unit':<10}{'plain file':>12}{'ratio':>8}"]
    for f in figures:
        base = f"{f.baseline:>12,.0f}{f.value / f.baseline:>8.2f}" if f.baseline else ""
        lines.append(f"{f.name:<26}{f.value:>14,.0f}  {f.unit:<10}{base}")
    return "\n".join(lines)

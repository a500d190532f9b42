"""`mini-kafka perf bench`: every scenario on a fresh cluster, side by side with the
transport's ceiling (measured in the same run) and Kafka's published figure.

Scenarios follow Jay Kreps's 2014 Kafka benchmark: 100-byte records, 6 partitions,
RF=3; one producer with acks=1 and with acks=all; one consumer; three producers (three
processes, as Kafka's ran on three machines); end-to-end latency at a fixed rate; and
1 KiB records in MB/s. Plus each broker's memory, idle and under load, and how long
`cluster up` takes for the benchmark config.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from mini_kafka.client import Admin, NewTopic
from mini_kafka.perf import ceiling, clients, e2e

# Kafka 0.8.1 on three 6-core brokers (Kreps, "Benchmarking Apache Kafka", 2014).
KAFKA = {"acks=1": "786,980 rec/s", "acks=all": "421,823 rec/s",
         "consumer": "940,521 rec/s", "3 producers": "2,024,032 rec/s",
         "e2e": "2 ms / 3 ms", "1KiB": "(graph only)", "rss": "~1 GB JVM",
         "up": "~1.2 s per JVM broker"}
MIB = 1024 * 1024


@dataclass
class Row:
    scenario: str
    figure: str
    ceiling: str = ""
    ratio: str = ""
    kafka: str = ""


@dataclass
class BenchSettings:
    records: int = 200_000
    large_records: int = 40_000
    e2e_rates: tuple[float, ...] = (1_000, 10_000)
    e2e_seconds: float = 5.0
    partitions: int = 6
    replication_factor: int = 3
    ceiling_seconds: float = 2.0
    ceiling_repeats: int = 3


class RssSampler:
    """Peak RSS of each broker process while a scenario runs."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.2):
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak_mib = {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            for name, proc in self._procs.items():
                try:
                    self.peak_mib[name] = max(self.peak_mib[name], proc.memory_info().rss / MIB)
                except psutil.Error:
                    pass
            if self._stop.wait(self._interval_s):  # sampling period, not a condition
                return


def rss_mib(pids: dict[str, int]) -> dict[str, float]:
    return {name: psutil.Process(pid).memory_info().rss / MIB for name, pid in pids.items()}


def run(cluster_factory: Callable[[], Any], settings: BenchSettings, endpoint_for,
        out=sys.stdout) -> list[Row]:
    """cluster_factory() starts a fresh cluster and returns it (a launcher.Cluster)."""
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    rows: list[Row] = []
    say("measuring the transport ceiling (raw ZeroMQ between two processes)...")
    def ceiling_of(record_size: int, batch_bytes: int) -> ceiling.Ceiling:
        return ceiling.median_of(endpoint_for, record_size, batch_bytes,
                                 settings.ceiling_repeats, settings.ceiling_seconds)

    small = ceiling_of(100, 16384)  # the producer's batch.size
    large = ceiling_of(1024, 16384)
    fetch = ceiling_of(100, MIB)  # a consumer's max.partition.fetch.bytes
    say(small.line())
    say(large.line())
    say(fetch.line())

    say("starting a fresh cluster...")
    cluster = cluster_factory()
    try:
        rows.append(Row(f"cluster up ({len(cluster.nodes)} nodes)", f"{cluster.startup_s:.2f} s",
                        kafka=KAFKA["up"]))
        brokers = {n: p.pid for n, p in cluster.nodes.items() if n.startswith("broker")}
        idle = rss_mib(brokers)
        bootstrap = cluster.bootstrap
        with Admin(bootstrap) as admin:
            admin.create_topics([NewTopic(t, settings.partitions, settings.replication_factor)
                                 for t in ("bench-100", "bench-1k", "bench-3p", "bench-e2e")])

        def produce_row(label, topic, size, count, acks, ceil, kafka_key):
            say(f"{label}...")
            result = clients.produce(bootstrap, topic, count, size, acks=acks, out=out)
            say("  " + result.kafka_line())
            rows.append(Row(label, f"{result.records_per_s:,.0f} rec/s",
                            f"{ceil.records_per_s:,.0f} rec/s",
                            f"{result.records_per_s / ceil.records_per_s:.3f}",
                            KAFKA[kafka_key]))
            return result

        with RssSampler(brokers) as sampler:
            produce_row("1 producer, acks=1, 100 B", "bench-100", 100, settings.records, "1",
                        small, "acks=1")
            produce_row("1 producer, acks=all, 100 B", "bench-100", 100, settings.records,
                        "all", small, "acks=all")
        say("1 consumer...")
        consumed = clients.consume(bootstrap, "bench-100", settings.records * 2, 120)
        say("  " + consumed.kafka_lines().splitlines()[1])
        rows.append(Row("1 consumer, 100 B", f"{consumed.records_per_s:,.0f} rec/s",
                        f"{fetch.records_per_s:,.0f} rec/s",
                        f"{consumed.records_per_s / fetch.records_per_s:.4f}",
                        KAFKA["consumer"]))
        say("3 producers (processes), acks=1...")
        total = three_producers(bootstrap, "bench-3p", settings.records, out)
        rows.append(Row("3 producers, acks=1, 100 B", f"{total:,.0f} rec/s",
                        f"{small.records_per_s:,.0f} rec/s",
                        f"{total / small.records_per_s:.3f}", KAFKA["3 producers"]))
        for rate in settings.e2e_rates:
            say(f"end-to-end latency at {rate:,.0f} rec/s...")
            lat = e2e.run(bootstrap, "bench-e2e", rate, settings.e2e_seconds)
            say("  " + lat.lines())
            rows.append(Row(f"end-to-end at {rate:,.0f} rec/s, p50 / p99",
                            f"{lat.percentile(0.5):.1f} / {lat.percentile(0.99):.1f} ms",
                            f"{small.round_trip_ms_p50:.2f} ms (round trip)",
                            f"{lat.percentile(0.5) / small.round_trip_ms_p50:.0f}x",
                            KAFKA["e2e"]))
        large_result = produce_row("1 producer, acks=1, 1 KiB", "bench-1k", 1024,
                                   settings.large_records, "1", large, "1KiB")
        rows[-1].figure = f"{large_result.mb_per_s:.1f} MB/s"
        rows[-1].ceiling = f"{large.mb_per_s:.1f} MB/s"
        rows.append(Row("broker RSS idle (max of brokers)", f"{max(idle.values()):.0f} MiB",
                        kafka=KAFKA["rss"]))
        rows.append(Row("broker RSS under load (peak)",
                        f"{max(sampler.peak_mib.values()):.0f} MiB", kafka=KAFKA["rss"]))
    finally:
        cluster.stop()
    return rows


def three_producers(bootstrap: str, topic: str, records: int, out) -> float:
    """Three producer processes at once. The aggregate rate is all their records over the
    slowest one's own sending time (each reports it): interpreter start-up, which Kafka's
    JVM producers do not pay per measurement either, is left out."""
    per = records // 3
    command = [sys.executable, "-m", "mini_kafka.cli.main", "perf", "produce", "--topic",
               topic, "--num-records", str(per), "--record-size", "100", "--acks", "1",
               "--bootstrap-server", bootstrap]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    lines = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"a producer process failed: {stderr.strip()}")
            lines.append(stdout.strip().splitlines()[-1])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for line in lines:
        print("  " + line, file=out, flush=True)
    figures = [re.match(r"(\d+) records sent, ([\d.]+) records/sec", line) for line in lines]
    sent = [int(f[1]) for f in figures]
    slowest_s = max(n / float(f[2]) for n, f in zip(sent, figures, strict=True))
    return sum(sent) / slowest_s


def format_table(rows: list[Row]) -> str:
    header = ("scenario", "mini-kafka", "ceiling (raw ZeroMQ)", "ratio", "Kafka 0.8.1 (2014)")
    cells = [header] + [(r.scenario, r.figure, r.ceiling, r.ratio, r.kafka) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(header))) + " |"
             for c in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found[1].strip() if found else ""
    return (f"{model or cpu}, {psutil.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 1024 ** 3:.1f} GiB RAM, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")

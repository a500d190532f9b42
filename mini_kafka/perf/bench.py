"""`mini-kafka perf bench`: every scenario on a fresh cluster, with each client side by
side — mini-kafka's own client over ZeroMQ, confluent-kafka (librdkafka behind Python)
and kcat (librdkafka's C tool) over the Kafka listener — beside the raw ceilings of both
transports measured in the same run (ZeroMQ, and TCP with Kafka's framing) and Kafka's
published figure.

Scenarios follow Jay Kreps's 2014 Kafka benchmark: 100-byte records, 6 partitions,
RF=3; one producer with acks=1 and with acks=all; one consumer; three producers (three
processes, as Kafka's ran on three machines); end-to-end latency at a fixed rate; and
1 KiB records in MB/s. Plus one request's round trip through each front door, each
broker's memory idle and under load, and how long `cluster up` takes.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from mini_kafka.client import Admin, NewTopic
from mini_kafka.perf import ceiling, clients, e2e, kafka_clients, round_trip, tcp_ceiling

# Kafka 0.8.1 on three 6-core brokers (Kreps, "Benchmarking Apache Kafka", 2014).
KAFKA = {"acks=1": "786,980 rec/s", "acks=all": "421,823 rec/s",
         "consumer": "940,521 rec/s", "3 producers": "2,024,032 rec/s",
         "e2e": "2 ms / 3 ms", "1KiB": "(graph only)", "rss": "~1 GB JVM",
         "up": "~1.2 s per JVM broker"}
MIB = 1024 * 1024
MINI_KAFKA, CONFLUENT, KCAT = "mini-kafka", "confluent-kafka", "kcat"
# mini-kafka's client again, producing through send_many() (a thousand records a call):
# the batch-level path, beside send()'s record at a time. Producer scenarios only.
SEND_MANY = "mini-kafka-send-many"
SEND_MANY_RECORDS = 1000
CLIENTS = (MINI_KAFKA, SEND_MANY, CONFLUENT, KCAT)
OWN = (MINI_KAFKA, SEND_MANY)  # mini-kafka's client, over ZeroMQ
HEADINGS = {MINI_KAFKA: "mini-kafka client", SEND_MANY: "mini-kafka send_many",
            CONFLUENT: "confluent-kafka", KCAT: "kcat (C)"}


@dataclass
class Row:
    scenario: str
    figures: dict[str, str] = field(default_factory=dict)  # client -> figure
    zeromq: str = ""  # the ceiling of mini-kafka's client's transport
    tcp: str = ""  # the ceiling of the Kafka listener's
    ratio: str = ""  # the best Kafka client's figure over the TCP ceiling
    kafka: str = ""

    @property
    def figure(self) -> str:
        """The first client's figure (the whole row when only one client ran)."""
        return next(iter(self.figures.values()), "")


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
    round_trips: int = 2_000
    clients: tuple[str, ...] = CLIENTS


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


class _Ceilings:
    def __init__(self, settings: BenchSettings, endpoint_for, port_for, say):
        def both(record_size: int, batch_bytes: int):
            zmq = ceiling.median_of(endpoint_for, record_size, batch_bytes,
                                    settings.ceiling_repeats, settings.ceiling_seconds)
            tcp = tcp_ceiling.median_of(port_for, record_size, batch_bytes,
                                        settings.ceiling_repeats, settings.ceiling_seconds)
            say(zmq.line())
            say(tcp.line())
            return zmq, tcp

        self.small = both(100, 16384)  # the producer's batch.size
        self.large = both(1024, 16384)
        self.fetch = both(100, MIB)  # a consumer's max.partition.fetch.bytes


def _rate(records_per_s: float) -> str:
    return f"{records_per_s:,.0f} rec/s"


def _ratio(best: float, ceiling_value: float, digits: int = 3) -> str:
    return f"{best / ceiling_value:.{digits}f}" if best and ceiling_value else ""


def run(cluster_factory: Callable[[], Any], settings: BenchSettings, endpoint_for,
        port_for=None, out=sys.stdout) -> list[Row]:
    """cluster_factory() starts a fresh cluster and returns it (a launcher.Cluster);
    endpoint_for() / port_for() give free ZeroMQ endpoints / TCP ports for the ceilings."""
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    if port_for is None:
        def port_for() -> int:
            return int(endpoint_for().rsplit(":", 1)[1])
    say("measuring the transports' ceilings (raw ZeroMQ and raw TCP between two processes)...")
    ceil = _Ceilings(settings, endpoint_for, port_for, say)
    say("starting a fresh cluster...")
    cluster = cluster_factory()
    try:
        return _scenarios(cluster, settings, ceil, say)
    finally:
        cluster.stop()


def _scenarios(cluster, settings: BenchSettings, ceil: _Ceilings, say) -> list[Row]:
    chosen = settings.clients
    rows = [Row(f"cluster up ({len(cluster.nodes)} nodes)",
                {MINI_KAFKA: f"{cluster.startup_s:.2f} s"}, kafka=KAFKA["up"])]
    brokers = {n: p.pid for n, p in cluster.nodes.items() if n.startswith("broker")}
    idle = rss_mib(brokers)
    boot, kboot = cluster.bootstrap, cluster.kafka_bootstrap
    topics = ["bench-100", "bench-1k", "bench-3p", "bench-e2e", "bench-rtt"]
    with Admin(boot) as admin:
        admin.create_topics([NewTopic(f"{t}-{c}", settings.partitions,
                                      settings.replication_factor)
                             for t in topics for c in chosen])

    def topic(name: str, client: str) -> str:
        return f"{name}-{client}"

    say("one request's round trip through each front door...")
    rtt = {}
    if MINI_KAFKA in chosen:
        rtt[MINI_KAFKA] = round_trip.zeromq(cluster.config.nodes[-1].endpoint,
                                            topic("bench-rtt", MINI_KAFKA),
                                            settings.round_trips)
    if any(c not in OWN for c in chosen):
        rtt[CONFLUENT] = round_trip.kafka_listener(kboot.split(",")[-1],
                                                   topic("bench-rtt", chosen[-1]),
                                                   settings.round_trips)
    for r in rtt.values():
        say("  " + r.line())
    # The ZeroMQ door through mini-kafka's client, the Kafka door through a bare socket.
    rows.append(Row("one request's round trip (Metadata), p50",
                    {c: f"{r.p50_ms:.3f} ms" for c, r in rtt.items()},
                    f"{ceil.small[0].round_trip_ms_p50:.3f} ms",
                    f"{ceil.small[1].round_trip_ms_p50:.3f} ms"))

    def produce_row(label, name, size, count, acks, pair, kafka_key):
        say(f"{label}...")
        rates = {}
        for client in chosen:
            t = topic(name, client)
            if client in OWN:
                result = clients.produce(boot, t, count, size, acks=acks, out=_Null(),
                                         records_per_send=SEND_MANY_RECORDS
                                         if client == SEND_MANY else 1)
            elif client == CONFLUENT:
                result = kafka_clients.produce(kboot, t, count, size, acks=acks)
            else:
                result = kafka_clients.kcat_produce(kboot, t, count, size, acks=acks)
            say(f"  {HEADINGS[client]}: " + (result.kafka_line() if result.latencies_ms else
                                            f"{result.records} records sent, "
                                            f"{result.records_per_s:.1f} records/sec"))
            rates[client] = result
        row = Row(label, {c: _rate(r.records_per_s) for c, r in rates.items()},
                  _rate(pair[0].records_per_s), _rate(pair[1].records_per_s),
                  _ratio(_best_kafka(rates, "records_per_s"), pair[1].records_per_s),
                  KAFKA[kafka_key])
        rows.append(row)
        return rates

    brokers_pids = brokers
    with RssSampler(brokers_pids) as sampler:
        produce_row("1 producer, acks=1, 100 B", "bench-100", 100, settings.records, "1",
                    ceil.small, "acks=1")
        produce_row("1 producer, acks=all, 100 B", "bench-100", 100, settings.records,
                    "all", ceil.small, "acks=all")
        say("1 consumer...")
        consumed = {}
        for client in chosen:
            if client == SEND_MANY:
                continue  # a producer's path: the consumer is mini-kafka's client's
            t = topic("bench-100", client)
            if client == MINI_KAFKA:
                consumed[client] = clients.consume(boot, t, settings.records * 2, 120)
            elif client == CONFLUENT:
                consumed[client] = kafka_clients.consume(kboot, t, settings.records * 2, 120)
            else:
                consumed[client] = kafka_clients.kcat_consume(kboot, t, settings.records * 2)
            say(f"  {HEADINGS[client]}: " + consumed[client].kafka_lines().splitlines()[1])
        fetch_zmq, fetch_tcp = ceil.fetch
        rows.append(Row("1 consumer, 100 B",
                        {c: _rate(r.records_per_s) for c, r in consumed.items()},
                        _rate(fetch_zmq.records_per_s), _rate(fetch_tcp.records_per_s),
                        _ratio(_best_kafka(consumed, "records_per_s"),
                               fetch_tcp.records_per_s, 4), KAFKA["consumer"]))
    say("3 producers (processes), acks=1...")
    totals = {c: three_producers(cluster, topic("bench-3p", c), settings.records, c, say)
              for c in chosen}
    rows.append(Row("3 producers, acks=1, 100 B", {c: _rate(v) for c, v in totals.items()},
                    _rate(ceil.small[0].records_per_s), _rate(ceil.small[1].records_per_s),
                    _ratio(max((v for c, v in totals.items() if c not in OWN), default=0),
                           ceil.small[1].records_per_s), KAFKA["3 producers"]))
    for rate in settings.e2e_rates:
        say(f"end-to-end latency at {rate:,.0f} rec/s...")
        lat = {}
        for client in chosen:
            if client in (KCAT, SEND_MANY):
                continue  # kcat cannot time a record from send to receive; send_many
                # is a throughput path (a record waits for its call's others)
            t = topic("bench-e2e", client)
            lat[client] = e2e.run(boot, t, rate, settings.e2e_seconds) \
                if client == MINI_KAFKA else kafka_clients.e2e(kboot, t, rate,
                                                               settings.e2e_seconds)
            say(f"  {HEADINGS[client]}: " + lat[client].lines())
        rows.append(Row(f"end-to-end at {rate:,.0f} rec/s, p50 / p99",
                        {c: f"{r.percentile(0.5):.1f} / {r.percentile(0.99):.1f} ms"
                         for c, r in lat.items()},
                        f"{ceil.small[0].round_trip_ms_p50:.2f} ms (round trip)",
                        f"{ceil.small[1].round_trip_ms_p50:.3f} ms (round trip)",
                        kafka=KAFKA["e2e"]))
    large = produce_row("1 producer, acks=1, 1 KiB", "bench-1k", 1024,
                        settings.large_records, "1", ceil.large, "1KiB")
    rows[-1].figures = {c: f"{r.mb_per_s:.1f} MB/s" for c, r in large.items()}
    rows[-1].zeromq = f"{ceil.large[0].mb_per_s:.1f} MB/s"
    rows[-1].tcp = f"{ceil.large[1].mb_per_s:.1f} MB/s"
    rows.append(Row("broker RSS idle (max of brokers)",
                    {chosen[0]: f"{max(idle.values()):.0f} MiB"}, kafka=KAFKA["rss"]))
    rows.append(Row("broker RSS under load (peak)",
                    {chosen[0]: f"{max(sampler.peak_mib.values()):.0f} MiB"},
                    kafka=KAFKA["rss"]))
    return rows


def _best_kafka(results: dict, attr: str) -> float:
    return max((getattr(r, attr) for c, r in results.items() if c not in OWN), default=0)


class _Null:
    def write(self, _):
        pass

    def flush(self):
        pass


def three_producers(cluster, topic: str, records: int, client: str, say) -> float:
    """Three producer processes at once. The aggregate rate is all their records over the
    slowest one's own sending time (each reports it): interpreter start-up, which Kafka's
    JVM producers do not pay per measurement either, is left out."""
    per = records // 3
    if client == KCAT:
        return _three_kcats(cluster.kafka_bootstrap, topic, per, say)
    bootstrap = cluster.bootstrap if client in OWN else cluster.kafka_bootstrap
    command = [sys.executable, "-m", "mini_kafka.cli.main", "perf", "produce", "--topic",
               topic, "--num-records", str(per), "--record-size", "100", "--acks", "1",
               "--client", MINI_KAFKA if client in OWN else client,
               "--bootstrap-server", bootstrap]
    if client == SEND_MANY:
        command += ["--records-per-send", str(SEND_MANY_RECORDS)]
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
        say(f"  {HEADINGS[client]}: {line}")
    figures = [re.match(r"(\d+) records sent, ([\d.]+) records/sec", line) for line in lines]
    sent = [int(f[1]) for f in figures]
    slowest_s = max(n / float(f[2]) for n, f in zip(sent, figures, strict=True))
    return sum(sent) / slowest_s


def _three_kcats(bootstrap: str, topic: str, per: int, say) -> float:
    results: list = [None] * 3

    def one(i: int) -> None:
        results[i] = kafka_clients.kcat_produce(bootstrap, topic, per, 100, acks="1")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    if any(r is None for r in results):
        raise RuntimeError("a kcat producer did not finish")
    for r in results:
        say(f"  {HEADINGS[KCAT]}: {r.records} records sent, {r.records_per_s:.1f} records/sec")
    return sum(r.records for r in results) / max(r.seconds for r in results)


def format_table(rows: list[Row]) -> str:
    present = [c for c in CLIENTS if any(c in r.figures for r in rows)]
    header = ("scenario", *(HEADINGS[c] for c in present), "ceiling: ZeroMQ",
              "ceiling: TCP", "Kafka client / TCP", "Kafka 0.8.1 (2014)")
    cells = [header] + [(r.scenario, *(r.figures.get(c, "") for c in present), r.zeromq,
                         r.tcp, r.ratio, r.kafka) for r in rows]
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

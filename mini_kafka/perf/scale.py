"""`mini-kafka perf scale`: a large cluster on this host, measured against the scale
issue's targets (issue 17) in one table.

A fresh cluster (5 coordinators + 100 brokers by default) starts on free ports in a
temporary directory, through the launcher's Cluster like any user's. In order: how long
it takes to come up; what it costs idle (CPU of every node process over a window, RSS);
creating one topic with many partitions, RF=3; SIGKILL of several brokers at once, until
every partition is led by a live broker and takes an acks=all write again; restarting
them, until every ISR is whole and the preferred-leader election has spread leaders
back; idle again with the topic; and stopping, with no process left.

Every figure waits on a condition with a deadline (--timeout); only the idle window and
the settling before it are fixed times. The brokers killed are chosen so that every
partition keeps min.insync.replicas live replicas: otherwise acks=all could not resume.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from mini_kafka.client import Admin, NewTopic, Producer
from mini_kafka.errors import KafkaError
from mini_kafka.perf.scale_figures import (
    REPLICATION_FACTOR,
    ScaleError,
    ScaleReport,
    ScaleSettings,
    choose_victims,
    isr_whole,
    leader_spread,
    led_by,
    median_max,
    preferred_led,
)

TOPIC = "scale"
# Spread placement gives every broker co-replicas on most others, so ten brokers dying
# together leave some partitions one replica: min.insync.replicas 1 lets acks=all
# resume there, as it would for a Kafka topic so configured.
MIN_INSYNC = 1
POLL_INTERVAL_S = 0.02
MB = 1_000_000  # the targets are in MB


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(settings: ScaleSettings, say: Callable[[str], None] = _say) -> ScaleReport:
    from launcher import Cluster, ClusterError
    from launcher.configs import local_cluster_config

    settings.check()
    report = ScaleReport(settings)
    with _cluster_dir(settings.keep_dir) as tmp:
        cluster = Cluster(local_cluster_config(Path(tmp) / "cluster", settings.coordinators,
                                               settings.brokers))
        every_node = []  # each process the cluster ever had, restarted ones included
        try:
            _measure(cluster, settings, report, say, every_node)
        except (ClusterError, KafkaError, ScaleError) as e:
            # What was measured so far is still worth its table; the details (node logs)
            # go where the progress goes.
            say(f"error: {e}")
            report.problems.append(f"{str(e).splitlines()[0]} (the run stopped here)")
        finally:
            say("stopping the cluster...")
            began = time.monotonic()
            cluster.stop()
            down_s = time.monotonic() - began
        every_node += cluster.nodes.values()
        left = sorted({n.pid for n in every_node if n.alive()})
        report.add("cluster down", f"{down_s:.2f} s")
        report.add("node processes left after down",
                   f"{len(left)}" + (f" (pids {', '.join(map(str, left))})" if left else ""),
                   "left", len(left))
    return report


def _cluster_dir(keep_dir: str | None):
    """A temporary directory, or `keep_dir` left in place afterwards: a run's node logs
    are what tells why it went wrong."""
    if keep_dir is None:
        return tempfile.TemporaryDirectory(prefix="mini-kafka-scale-")
    Path(keep_dir).mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(keep_dir)


def _measure(cluster, s: ScaleSettings, report: ScaleReport, say, every_node: list) -> None:
    size = f"{s.coordinators} coordinators + {s.brokers} brokers"
    say(f"starting {size}...")
    began = time.monotonic()
    cluster.start(progress=_progress_printer(say))
    brokers = sorted(spec.id for spec in cluster.config.nodes if spec.role == "broker")
    up_s = _until(lambda: cluster.metadata().unfenced_broker_ids() == brokers, began,
                  s.timeout_s)
    if up_s is None:
        report.timed_out("cluster up (every broker registered, unfenced)", "up")
    else:
        report.add("cluster up (every broker registered, unfenced)", f"{up_s:.1f} s",
                   "up", up_s)
    every_node += cluster.nodes.values()
    _idle_rows(cluster, s, report, say, "idle CPU, no topics")
    broker_mb = _rss_mb(cluster, "broker")
    coordinator_mb = _rss_mb(cluster, "coordinator")
    report.add("broker RSS, median / max", "{:.1f} / {:.1f} MB".format(*median_max(broker_mb)),
               "broker_rss", max(broker_mb))
    report.add("coordinator RSS, median / max",
               "{:.1f} / {:.1f} MB".format(*median_max(coordinator_mb)))

    with Admin(cluster.bootstrap) as admin, \
            Producer(cluster.bootstrap, acks="all", linger_ms=0, retry_backoff_ms=20,
                     delivery_timeout_ms=int(s.timeout_s * 1000)) as producer:
        admin.list_topics()  # connected before the clock starts
        _create(cluster, admin, producer, s, report, say, brokers)
        if s.kill:
            _kill_and_return(cluster, producer, s, report, say, brokers, every_node)
    _idle_rows(cluster, s, report, say, "idle CPU, with the topic")


def _create(cluster, admin, producer, s, report, say, brokers) -> None:
    what = f"{s.partitions} partitions, RF={REPLICATION_FACTOR}"
    say(f"creating a topic with {what}...")
    began = time.monotonic()
    admin.create_topics([NewTopic(TOPIC, s.partitions, REPLICATION_FACTOR,
                                  {"min.insync.replicas": str(MIN_INSYNC)})])
    created_s = time.monotonic() - began
    report.add(f"create a topic, {what}: the create returns", f"{created_s:.2f} s")

    def leaders_visible():
        [topic] = admin.describe_topics([TOPIC], offsets=False)
        return len(topic["partitions"]) == s.partitions and \
            all(p["leader"] in brokers for p in topic["partitions"])

    _row(report, "... every leader in a client's metadata",
         _until(leaders_visible, began, s.timeout_s), "create")
    _row(report, "... then an acks=all write to every partition",
         _write_everywhere(producer, s.partitions, time.monotonic(), s.timeout_s, report))
    placed = _partitions(cluster, s.timeout_s)
    report.add("leader spread (most leaders on a broker / average)",
               _spread_text(placed, brokers), "spread", leader_spread(placed, brokers))


def _kill_and_return(cluster, producer, s, report, say, brokers, every_node) -> None:
    # The kill is measured on a healthy cluster: followers slowed by the first writes
    # (each replica's first batch makes its files) may have left ISRs, and a partition
    # whose ISR is only a victim could not be led again at all.
    began = time.monotonic()
    _row(report, "... every ISR whole (before the kill)",
         _until(lambda: isr_whole(_partitions(cluster)), began, s.timeout_s))
    partitions = _partitions(cluster, s.timeout_s)
    victims = choose_victims(partitions, brokers, s.kill, REPLICATION_FACTOR - MIN_INSYNC)
    live = set(brokers) - set(victims)
    say(f"SIGKILL brokers {', '.join(map(str, victims))} at once...")
    began = time.monotonic()
    cluster.kill_many([f"broker-{v}" for v in victims])
    killed_ms = (time.monotonic() - began) * 1000
    # The writes go out now and complete on the producer's thread while the leaders are
    # watched here: both clocks start at the first SIGKILL.
    writes = _WriteEverywhere(producer, s.partitions, began)
    _row(report, f"SIGKILL {s.kill} brokers -> every partition led by a live broker",
         _until(lambda: led_by(_partitions(cluster), live), began, s.timeout_s), "led")
    resumed = writes.wait(began + s.timeout_s, report)
    interval_ms = cluster.config.timeouts.leader_imbalance_check_interval_ms
    report.notes += [
        f"killed brokers {', '.join(map(str, victims))}, chosen so that every partition "
        f"keeps min.insync.replicas = {MIN_INSYNC} live replica (the topic's); the "
        f"{s.kill} SIGKILLs took {killed_ms:.0f} ms, and the times after them run from the "
        "first",
        "the times after the restart run from it; the preferred-leader election is the "
        f"controller's automatic one (checked every {interval_ms} ms, "
        "timeouts.leader_imbalance_check_interval_ms)"]
    _row(report, "... an acks=all write to every partition", resumed, "resume")

    say(f"restarting brokers {', '.join(map(str, victims))}...")
    began = time.monotonic()
    cluster.start_nodes([f"broker-{v}" for v in victims])
    every_node += cluster.nodes.values()
    report.add(f"restart the {s.kill} -> registered again",
               f"{time.monotonic() - began:.1f} s")
    report.add("... leader spread then, before the preferred-leader election",
               _spread_text(_partitions(cluster, s.timeout_s), brokers))
    _row(report, "... every ISR whole again",
         _until(lambda: isr_whole(_partitions(cluster)), began, s.timeout_s))
    elected = _until(lambda: preferred_led(_partitions(cluster)), began, s.timeout_s)
    _row(report, "... every partition led by its preferred replica", elected)
    after = _partitions(cluster, s.timeout_s)
    report.add("... leader spread after the election", _spread_text(after, brokers), "spread",
               leader_spread(after, brokers))


class _WriteEverywhere:
    """One acks=all record to each partition, sent at once; when the last is acknowledged."""

    def __init__(self, producer: Producer, partitions: int, began: float):
        self._began = began
        self._lock = threading.Lock()
        self._done_at: list[float] = []
        self._futures = []
        for p in range(partitions):
            future = producer.send(TOPIC, b"perf scale", partition=p)
            future.add_done_callback(self._done)
            self._futures.append(future)

    def _done(self, _future) -> None:
        with self._lock:
            self._done_at.append(time.monotonic())

    def wait(self, deadline: float, report: ScaleReport) -> float | None:
        """Seconds from `began` to the last acknowledgement; None if one failed or is
        still pending at the deadline (a failure is one of the report's problems)."""
        try:
            for f in self._futures:
                f.result(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as e:
            report.problems.append(f"an acks=all write failed: {e}")
            return None
        except TimeoutError:
            return None
        with self._lock:
            return max(self._done_at) - self._began


def _write_everywhere(producer, partitions, began, timeout_s, report) -> float | None:
    return _WriteEverywhere(producer, partitions, began).wait(began + timeout_s, report)


def _idle_rows(cluster, s: ScaleSettings, report: ScaleReport, say, what: str) -> None:
    say(f"{what}: settling {s.settle_s:g} s, then measuring {s.idle_window_s:g} s...")
    time.sleep(s.settle_s)  # deliberate: let start-up or recovery work finish
    procs = [n.process() for n in cluster.nodes.values()]
    if any(p is None for p in procs):
        raise ScaleError("a node died while the cluster was idle")
    before = [_cpu_s(p) for p in procs]
    began = time.monotonic()
    time.sleep(s.idle_window_s)  # deliberate: the window CPU is measured over
    wall_s = time.monotonic() - began
    cores = sum(_cpu_s(p) - b for p, b in zip(procs, before, strict=True)) / wall_s
    report.add(f"{what} ({len(procs)} processes, {s.idle_window_s:g} s window)",
               f"{cores:.3f} core", "idle", cores)


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _rss_mb(cluster, role: str) -> list[float]:
    return [n.process().memory_info().rss / MB for n in cluster.nodes.values()
            if n.spec.role == role]


def _partitions(cluster, timeout_s: float = 0.0) -> list[dict]:
    """Every partition, read through the controller. A coordinator too busy to answer
    in time (a retriable error: after a restart of ten brokers, 5 + 100 runs stopped on
    one) is asked again until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return list(cluster.metadata(linearizable=True).partitions.values())
        except KafkaError as e:
            if not e.retriable or time.monotonic() >= deadline:
                raise
        time.sleep(POLL_INTERVAL_S)


def _spread_text(partitions: list[dict], brokers: list[int]) -> str:
    return f"{leader_spread(partitions, brokers):.2f}x"


def _row(report: ScaleReport, measurement: str, seconds: float | None,
         target: str = "") -> None:
    if seconds is None:
        report.timed_out(measurement, target)
    else:
        report.add(measurement, f"{seconds:.2f} s", target, seconds)


def _until(predicate: Callable[[], bool], began: float, timeout_s: float) -> float | None:
    """Seconds from `began` until `predicate` holds, polled; None after `timeout_s`. A
    node too busy to answer (KafkaError) counts as not yet."""
    deadline = began + timeout_s
    while True:
        try:
            if predicate():
                return time.monotonic() - began
        except KafkaError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_INTERVAL_S)


def _progress_printer(say) -> Callable[[dict[str, tuple[int, int]]], None]:
    last: list = [None, 0.0]

    def progress(ready: dict[str, tuple[int, int]]) -> None:
        now = time.monotonic()
        done = all(n == total for n, total in ready.values())
        if ready != last[0] and (done or now - last[1] >= 1.0):
            last[:] = [ready, now]
            say("  " + ", ".join(f"{role}s {n}/{total} ready"
                                 for role, (n, total) in ready.items()))
    return progress

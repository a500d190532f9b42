"""A large cluster on one host: it starts, spreads leaders over every broker, survives
several brokers SIGKILLed at once, and stops with no process left. The default suite runs
3 coordinators + 12 brokers; the slow tier the issue's 5 + 100 with 1000 partitions."""

from __future__ import annotations

import psutil
import pytest

from launcher.processes import started_s
from mini_kafka.client import Admin, NewTopic, Producer
from mini_kafka.perf.scale_figures import choose_victims, leader_counts, led_by
from tests.helpers import wait_until

TOPIC = "wide"


def gone(node) -> bool:
    """The pid is free, or now belongs to another process."""
    try:
        return abs(started_s(node.pid) - node.started_s) > 0.001 or \
            psutil.Process(node.pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def write_to_every_partition(producer: Producer, partitions: int, timeout_s: float) -> None:
    futures = [producer.send(TOPIC, b"x", partition=p) for p in range(partitions)]
    for f in futures:
        f.get(timeout_s)  # raises if a partition cannot take an acks=all write


def start_spread_kill_stop(cluster_factory, coordinators: int, brokers: int,
                           partitions: int, kill: int, timeout_s: float) -> None:
    cluster = cluster_factory(coordinators, brokers, {
        "timeouts": {"node_startup_timeout_ms": int(timeout_s * 1000)}})
    pids = list(cluster.nodes.values())
    ids = sorted(s.id for s in cluster.config.nodes if s.role == "broker")
    assert len(pids) == coordinators + brokers
    assert cluster.metadata().unfenced_broker_ids() == ids

    with Admin(cluster.bootstrap) as admin:
        # One live replica is enough for acks=all: spread placement leaves brokers few
        # sets that can die together without a partition losing two replicas.
        admin.create_topics([NewTopic(TOPIC, partitions, 3, {"min.insync.replicas": "1"})])
        [described] = wait_until(lambda: (t := admin.describe_topics([TOPIC], offsets=False))
                                 and all(p["leader"] in ids for p in t[0]["partitions"]) and t,
                                 timeout_s=timeout_s, what="a leader for every partition")
    assert len(described["partitions"]) == partitions
    assert "high_watermark" not in described["partitions"][0]  # one Metadata request only
    parts = cluster.metadata(linearizable=True).topic_partitions(TOPIC)
    counts = leader_counts(parts, ids)
    average = partitions / brokers
    assert min(counts.values()) > 0, counts  # every broker leads
    assert max(counts.values()) <= 1.5 * average, counts

    producer = Producer(cluster.bootstrap, acks="all", linger_ms=0, retry_backoff_ms=20,
                        delivery_timeout_ms=int(timeout_s * 1000))
    try:
        write_to_every_partition(producer, partitions, timeout_s)
        victims = choose_victims(parts, ids, kill, may_lose=2)
        cluster.kill_many([f"broker-{v}" for v in victims])
        live = set(ids) - set(victims)
        wait_until(lambda: led_by(cluster.metadata(linearizable=True).topic_partitions(TOPIC),
                                  live),
                   timeout_s=timeout_s, what="every partition led by a live broker")
        write_to_every_partition(producer, partitions, timeout_s)
    finally:
        producer.close()

    cluster.stop()
    left = [n.spec.name for n in pids if not gone(n)]
    assert left == [], f"still running after stop: {left}"


def test_3_coordinators_12_brokers_spread_survive_3_killed_and_stop_clean(
        mini_kafka_cluster_factory):
    start_spread_kill_stop(mini_kafka_cluster_factory, 3, 12, 60, 3, timeout_s=20)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_5_coordinators_100_brokers_1000_partitions_survive_10_killed_and_stop_clean(
        mini_kafka_cluster_factory):
    start_spread_kill_stop(mini_kafka_cluster_factory, 5, 100, 1000, 10, timeout_s=120)

"""Restarts of every kind on topics where most partitions never saw a write: every ISR
(the internal topics' too) is whole again within seconds, group commits work, and the
idle brokers are idle (KAFKA-7415: a follower that missed an empty leader epoch used to
stay out of the ISR for good, it and its leader spinning)."""

from __future__ import annotations

import time

import psutil

from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from tests.integration.test_cluster import cli

ISR_WHOLE_WITHIN_S = 10
CPU_WINDOW_S = 3.0
# An idle broker here uses a few percent of a core; the spin this guards against held
# 25-60 % per broker. Generous, to catch a spin on a loaded machine, not to time anything.
IDLE_CPU_PERCENT_MAX = 15.0


def _short_isrs(cluster) -> list[str]:
    image = cluster.metadata(linearizable=True)
    return [f"{p['topic']}/{p['partition']}: isr {p['isr']} of {p['replicas']}"
            for p in image.partitions.values() if len(p["isr"]) < len(p["replicas"])]


def wait_isrs_whole(cluster, timeout_s: float = ISR_WHOLE_WITHIN_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        short = _short_isrs(cluster)
        if not short:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(short)} partition(s) still under-replicated after "
                                 f"{timeout_s} s: {short[:10]}")
        time.sleep(0.1)


def broker_cpu_percent(cluster) -> dict[str, float]:
    procs = {name: psutil.Process(node.pid) for name, node in cluster.nodes.items()
             if name.startswith("broker")}
    before = {name: p.cpu_times() for name, p in procs.items()}
    began = time.monotonic()
    time.sleep(CPU_WINDOW_S)  # the measurement window itself
    elapsed = time.monotonic() - began
    return {name: 100 * ((p.cpu_times().user + p.cpu_times().system)
                         - (before[name].user + before[name].system)) / elapsed
            for name, p in procs.items()}


def assert_idle(cluster) -> None:
    busy = {n: round(c, 1) for n, c in broker_cpu_percent(cluster).items()
            if c > IDLE_CPU_PERCENT_MAX}
    assert not busy, f"idle brokers busy (% of a core over {CPU_WINDOW_S} s): {busy}"


def setup_mostly_idle_topics(cluster) -> None:
    """A small topic with five records, a larger one never written, and both internal
    topics in use (a group commit, a committed transaction)."""
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 3, 3), NewTopic("idle", 12, 3)])
    with Producer(cluster.bootstrap) as producer:
        for i in range(5):
            producer.send("t", b"%d" % i, partition=0)
    with Producer(cluster.bootstrap, transactional_id="tx") as producer:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send("t", b"in a transaction", partition=1)
        producer.commit_transaction()
    commit_and_read_back(cluster, 1)


def commit_and_read_back(cluster, offset: int) -> None:
    tp = TopicPartition("t", 0)
    with Consumer(bootstrap_servers=cluster.bootstrap, group_id="g",
                  enable_auto_commit=False) as consumer:
        consumer.assign([tp])
        consumer.commit({tp: offset})
        assert consumer.committed(tp) == offset


def wait_preferred_leaders(cluster, timeout_s: float = ISR_WHOLE_WITHIN_S) -> None:
    """Until the controller has moved every leadership back to its preferred replica:
    the election that leaves the restarted replicas' empty epochs behind them."""
    deadline = time.monotonic() + timeout_s
    while True:
        image = cluster.metadata(linearizable=True)
        elsewhere = [f"{p['topic']}/{p['partition']}" for p in image.partitions.values()
                     if p["leader"] != p["replicas"][0]]
        if not elsewhere:
            return
        assert time.monotonic() < deadline, f"not led by their preferred replica: {elsewhere}"
        time.sleep(0.1)


def assert_healthy(cluster, commit_offset: int) -> None:
    wait_preferred_leaders(cluster)
    wait_isrs_whole(cluster)
    internal = {p["topic"] for p in cluster.metadata().partitions.values()}
    assert {"__consumer_offsets", "__transaction_state"} <= internal
    commit_and_read_back(cluster, commit_offset)
    assert_idle(cluster)
    # Longer than replica_lag_time_max_ms has passed: a follower stuck in a loop since
    # the election would be out of its ISR by now.
    assert not _short_isrs(cluster), "a replica fell out of its ISR while idle"


def test_restarting_one_broker_heals_every_isr(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    setup_mostly_idle_topics(cluster)
    cluster.restart("broker-3")
    assert_healthy(cluster, 2)
    cluster.restart("broker-1")
    assert_healthy(cluster, 3)


def test_a_rolling_restart_heals_every_isr(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    setup_mostly_idle_topics(cluster)
    for _ in range(2):
        for b in (1, 2, 3):
            cluster.restart(f"broker-{b}")
            wait_isrs_whole(cluster)
    assert_healthy(cluster, 4)


def test_cluster_down_and_up_on_the_same_data_heals_every_isr(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    setup_mostly_idle_topics(cluster)
    for n in range(2):
        cluster.stop()
        cluster.start()
        assert_healthy(cluster, 5 + n)


def test_a_replica_out_of_the_isr_shows_in_describe_and_cluster_status(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 3, 3)])
    config = ["--config", str(cluster._config_path)]
    assert "partition(s) under-replicated" not in cli("cluster", "status", *config).stdout
    cluster.kill("broker-2")
    out = ""
    deadline = time.monotonic() + ISR_WHOLE_WITHIN_S
    while "out of the ISR of 3 partition(s)" not in out:
        assert time.monotonic() < deadline, out
        out = cli("cluster", "status", *config).stdout
    assert "3 partition(s) under-replicated" in out
    described = cli("topic", "describe", "--under-replicated", "--bootstrap-server",
                    cluster.bootstrap).stdout
    assert described.count("Partition: ") == 3 and "Replicas: " in described
    at = ["--bootstrap-server", cluster.bootstrap]
    assert cli("topic", "describe", "t", "--broker", "2", *at).stdout.count("Partition: ") == 3
    assert cli("topic", "describe", "--unavailable", *at).stdout == ""
    line = cli("topic", "describe", "t", "--summary", *at).stdout
    assert line.startswith("1 topic(s), 3 partition(s): 3 under-replicated, 0 without a "
                           "leader; leaders per broker 0-"), line
    cluster.start_node("broker-2")
    wait_isrs_whole(cluster)
    assert "partition(s) under-replicated" not in cli("cluster", "status", *config).stdout

"""Every record a producer takes ends in an acknowledgement or an error within its
delivery timeout, whatever the cluster does: a partition with no leader for a moment
(then one again), a partition that never gets a leader back, a cluster with no broker
at all. flush(timeout) and close(timeout) return within their timeouts."""

from __future__ import annotations

import time

import pytest

from mini_kafka.client import Admin, NewTopic, Producer
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from tests.helpers import wait_until


@pytest.fixture
def rf1(mini_kafka_cluster_factory):
    """One coordinator, two brokers, topic `solo` with one partition on one broker."""
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("solo", 1, 1, {"min.insync.replicas": "1"})])
    leader = cluster.metadata(linearizable=True).partition("solo", 0)["leader"]
    return cluster, f"broker-{leader}"


def leaderless(cluster) -> bool:
    return cluster.metadata(linearizable=True).partition("solo", 0)["leader"] == -1


def test_a_moment_with_no_leader_does_not_wedge_the_producer(rf1):
    cluster, leader = rf1
    producer = Producer(cluster.bootstrap, delivery_timeout_ms=60_000,
                        request_timeout_ms=2000, retry_backoff_ms=50)
    try:
        assert producer.send("solo", b"before").get(20).offset == 0
        cluster.kill(leader)
        during = producer.send("solo", b"during")
        wait_until(lambda: leaderless(cluster), timeout_s=20, what="the partition to lose "
                   "its only leader")
        cluster.start_node(leader)
        assert during.get(40).offset == 1
        assert producer.send("solo", b"after").get(20).offset == 2
        producer.flush(20)
    finally:
        producer.close(10)


def test_a_batch_that_never_gets_a_leader_fails_within_its_delivery_timeout(rf1):
    cluster, leader = rf1
    producer = Producer(cluster.bootstrap, delivery_timeout_ms=3000, request_timeout_ms=1000,
                        retry_backoff_ms=50)
    try:
        producer.send("solo", b"before").get(20)
        cluster.kill(leader)
        wait_until(lambda: leaderless(cluster), timeout_s=20, what="no leader")
        futures = [producer.send("solo", b"lost %d" % i) for i in range(3)]
        with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms"):
            futures[0].get(15)
        assert all(isinstance(f.exception(0), KafkaTimeoutError) for f in futures)
        producer.flush(5)  # nothing left: returns at once
        late = producer.send("solo", b"late")
        with pytest.raises(KafkaTimeoutError, match="flush"):
            producer.flush(0.5)  # honours its own timeout, the record still pending
        began = time.monotonic()
        producer.close(1)
        assert time.monotonic() - began < 5, "close(1) must not wait for the delivery timeout"
        assert isinstance(late.exception(0), KafkaError)
    finally:
        producer.close(1)


def test_a_producer_with_no_broker_to_talk_to_fails_its_records(rf1):
    """No broker answers at all: the producer id cannot even be fetched, and the metadata
    refresh keeps failing. The records still end, in time."""
    cluster, _ = rf1
    producer = Producer(cluster.bootstrap, delivery_timeout_ms=3000, request_timeout_ms=1000,
                        retry_backoff_ms=50, max_block_ms=10_000)
    try:
        producer.partitions_for("solo")  # metadata known; then every broker goes
        for name in ("broker-1", "broker-2"):
            cluster.kill(name)
        future = producer.send("solo", b"nobody home")
        with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms"):
            future.get(15)
    finally:
        producer.close(1)

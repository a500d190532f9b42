"""Many brokers killed at once: fenced and re-led in few committed changes, writable
again everywhere; and leadership spread evenly again once they return, by `topic
rebalance-leaders` or by the controller's own preferred leader election."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from confluent_kafka import ElectionType, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from launcher import control
from mini_kafka.client import Producer
from mini_kafka.coordinator.history import decode_changes
from mini_kafka.protocol import ApiKey
from tests.helpers import wait_until

BALANCE_MAX = 1.5  # no broker leads more than this times the average


def leaders_per_broker(image, topic: str) -> Counter:
    counts = Counter({b: 0 for b in image.brokers})
    counts.update(p["leader"] for p in image.topic_partitions(topic))
    return counts


def most_over_average(image, topic: str) -> float:
    counts = leaders_per_broker(image, topic)
    return max(counts.values()) / (sum(counts.values()) / len(counts))


def led_by_live_brokers(cluster, topic: str, dead: set[int]):
    image = cluster.metadata(linearizable=True)
    return all(p["leader"] >= 0 and p["leader"] not in dead
               for p in image.topic_partitions(topic)) and image


def fully_replicated(cluster, topic: str):
    image = cluster.metadata(linearizable=True)
    return all(sorted(p["isr"]) == sorted(p["replicas"])
               for p in image.topic_partitions(topic)) and image


def fence_writes_after(cluster, offset: int, victims: set[int]) -> list[int]:
    """The metadata offsets, after `offset`, of the committed changes that fenced any of
    `victims` (read from the controller's change history, as brokers follow it)."""
    controller = cluster.controller()
    reply = control.call_node(cluster.config, controller, ApiKey.METADATA_POLL,
                              {"after_offset": offset, "max_wait_ms": 0}, timeout_ms=5000)
    assert reply.payloads, "the history no longer reaches back to the kill"
    return [o for o, records in decode_changes(reply.payloads[0])
            if any(r["type"] == "broker" and r["id"] in victims and r["fenced"]
                   for r in records)]


def cli(cluster, *args):
    return subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args,
                           "--bootstrap-server", cluster.bootstrap],
                          capture_output=True, text=True, timeout=60)


def test_half_the_brokers_killed_at_once_are_fenced_together_and_writes_resume(
        mini_kafka_cluster_factory):
    # fence_linger_ms: the drops of a mass kill reach the controller spread over tens of
    # milliseconds on a loaded host (once 4 fence writes for these 5 without it).
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=10, overrides={
        "timeouts": {"leader_imbalance_check_interval_ms": 300, "fence_linger_ms": 50}})
    # min.insync.replicas=1: acks=all then means "every replica in the ISR", and a
    # partition that lost two of its three replicas is writable on the third.
    cluster.write_metadata({"op": "create_topic", "name": "orders", "partitions": 30,
                            "replication_factor": 3, "configs": {"min.insync.replicas": "1"}})
    before = cluster.metadata(linearizable=True)
    # A partition's followers are two consecutive brokers (coordinator/state.py _place):
    # one of them, at least, is even and lives.
    victims = {1, 3, 5, 7, 9}

    cluster.kill_many([f"broker-{b}" for b in sorted(victims)])
    after = wait_until(lambda: led_by_live_brokers(cluster, "orders", victims), timeout_s=10,
                       what="every partition led by a live broker")
    assert all(after.brokers[b]["fenced"] for b in victims)
    fences = fence_writes_after(cluster, before.offset, victims)
    assert 1 <= len(fences) <= 3, f"the kill took {len(fences)} fence writes: {fences}"

    with Producer(cluster.bootstrap, acks="all", delivery_timeout_ms=20_000) as producer:
        futures = [producer.send("orders", b"after the kill", partition=p) for p in range(30)]
        producer.flush(30)
    offsets = [f.result(0) for f in futures]
    assert [o.partition for o in offsets] == list(range(30))

    # Back again: the controller's own preferred leader election spreads leadership.
    cluster.start_nodes([f"broker-{b}" for b in sorted(victims)])
    wait_until(lambda: (m := fully_replicated(cluster, "orders")) and
               all(p["leader"] == p["replicas"][0] for p in m.topic_partitions("orders")),
               timeout_s=20, what="every partition led by its preferred replica again")
    assert most_over_average(cluster.metadata(linearizable=True), "orders") <= BALANCE_MAX


def test_rebalance_leaders_spreads_leadership_after_brokers_return(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=9, overrides={
        "topics": {"auto_leader_rebalance_enable": False}})
    cluster.write_metadata({"op": "create_topic", "name": "orders", "partitions": 36,
                            "replication_factor": 3})
    created = cluster.metadata(linearizable=True)
    assert set(leaders_per_broker(created, "orders").values()) == {4}  # placement spreads

    victims = {1, 4, 7}
    cluster.kill_many([f"broker-{b}" for b in sorted(victims)])
    wait_until(lambda: led_by_live_brokers(cluster, "orders", victims), timeout_s=10,
               what="every partition led by a live broker")
    cluster.start_nodes([f"broker-{b}" for b in sorted(victims)])
    returned = wait_until(lambda: fully_replicated(cluster, "orders"), timeout_s=20,
                          what="the returned brokers back in every ISR")
    assert all(leaders_per_broker(returned, "orders")[b] == 0 for b in victims)
    assert most_over_average(returned, "orders") > 1.2  # 36 leaderships over 6 brokers

    out = cli(cluster, "topic", "rebalance-leaders", "--topic", "nope")
    assert out.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in out.stderr
    assert "topic 'nope' does not exist" in out.stderr and "Traceback" not in out.stderr
    out = cli(cluster, "topic", "rebalance-leaders", "--topic", "orders", "--partition", "36")
    assert out.returncode == 1 and "no partition 36" in out.stderr
    out = cli(cluster, "topic", "rebalance-leaders", "--partition", "3")
    assert out.returncode == 1 and "--partition needs --topic" in out.stderr

    # Kafka's ElectLeaders, from an unchanged Kafka admin client: one partition.
    moved = next(p for p in returned.topic_partitions("orders")
                 if p["leader"] != p["replicas"][0])
    admin = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap})
    asked = [TopicPartition("orders", moved["partition"]), TopicPartition("orders", 99)]
    answers = admin.elect_leaders(ElectionType.PREFERRED, asked).result(timeout=30)
    assert answers[asked[0]] is None
    assert answers[asked[1]].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    again = admin.elect_leaders(ElectionType.PREFERRED, asked[:1]).result(timeout=30)
    assert again[asked[0]].code() == KafkaError.ELECTION_NOT_NEEDED

    out = cli(cluster, "topic", "rebalance-leaders")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == ("moved 11 leader(s) to their preferred replica; 0 not movable "
                        "(preferred replica not in the ISR, or down); 25 already there")
    assert len(lines) == 12
    image = cluster.metadata(linearizable=True)
    assert set(leaders_per_broker(image, "orders").values()) == {4}
    out = cli(cluster, "topic", "rebalance-leaders", "--topic", "orders", "--partition", "0")
    assert out.returncode == 0 and out.stdout.startswith("moved 0 leader(s)") and \
        "1 already there" in out.stdout

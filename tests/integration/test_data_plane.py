"""Produce, replicate, fetch on a real 3-broker cluster, with brokers dying under load."""

from __future__ import annotations

import time

import pytest

from launcher import chaos
from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from tests.helpers import wait_until
from tests.integration.dataplane_helpers import (
    BackgroundProducer,
    check_exactly_once_in_order,
    read_all,
)


def create(cluster, name, partitions=6, rf=3, configs=None):
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(name, partitions, rf, configs or {})])


def isr_full(cluster, topic, size=3):
    image = cluster.metadata(linearizable=True)
    return all(len(p["isr"]) == size for p in image.topic_partitions(topic))


def test_keyed_records_keep_order_per_key_and_land_where_kafka_puts_them(mini_kafka_cluster):
    from kafka.partitioner.default import murmur2

    create(mini_kafka_cluster, "orders")
    job = BackgroundProducer(mini_kafka_cluster.bootstrap, "orders", 5000, keys=37).start()
    job.join()
    assert not job.failed()
    records = read_all(mini_kafka_cluster.bootstrap, "orders")
    check_exactly_once_in_order(job.acknowledged(), records)
    for r in records:
        assert r.partition == (murmur2(bytearray(r.key)) & 0x7FFFFFFF) % 6


def test_send_many_writes_every_record_where_its_metadata_says_in_order(mini_kafka_cluster):
    from kafka.partitioner.default import murmur2

    create(mini_kafka_cluster, "bulk")
    values = [b"v%05d" % i for i in range(5000)]
    keys = [None if i % 3 else b"key-%d" % (i % 29) for i in range(5000)]
    with Producer(mini_kafka_cluster.bootstrap, acks="all", batch_size=2000) as producer:
        first = producer.send_many("bulk", values[:4000], keys=keys[:4000])
        second = producer.send_many("bulk", values[4000:], partition=5)
        metadata = first.get(60) + second.get(60)
    stored = {(r.partition, r.offset): r for r in read_all(mini_kafka_cluster.bootstrap, "bulk")}
    assert len(stored) == 5000
    for i, m in enumerate(metadata):  # each record is where its RecordMetadata says
        record = stored[(m.partition, m.offset)]
        assert (record.value, record.key) == (values[i], keys[i] if i < 4000 else None)
        if i < 4000 and keys[i] is not None:
            assert m.partition == (murmur2(bytearray(keys[i])) & 0x7FFFFFFF) % 6
        if i >= 4000:
            assert m.partition == 5
    for p in range(6):  # and each partition holds them in the order they were given
        positions = [i for i, m in enumerate(metadata) if m.partition == p]
        assert [metadata[i].offset for i in positions] == sorted(
            metadata[i].offset for i in positions)
    assert len({m.partition for m in metadata[:4000]}) == 6  # spread over all six


def test_acks_all_loses_nothing_while_each_leader_is_killed_in_turn(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    create(cluster, "ledger")
    job = BackgroundProducer(cluster.bootstrap, "ledger", 100_000, keys=500, acks="all",
                             linger_ms=5, rate_per_s=4000).start()
    for partition in (0, 1, 2):
        leader = cluster.metadata(linearizable=True).partition("ledger", partition)["leader"]
        sent_before = len(job.sent)
        wait_until(lambda n=sent_before: len(job.sent) > n + 3000, timeout_s=60,
                   what="the producer to make progress")
        assert len(job.sent) < 100_000, "the kills must land while records are being sent"
        cluster.kill(f"broker-{leader}")
        wait_until(lambda p=partition, b=leader: cluster.metadata(linearizable=True)
                   .partition("ledger", p)["leader"] not in (b, -1), timeout_s=20,
                   what="a new leader")
        cluster.start_node(f"broker-{leader}")
        wait_until(lambda: isr_full(cluster, "ledger"), timeout_s=30, what="the ISR to heal")
    job.join()
    acked = job.acknowledged()
    assert len(acked) == 100_000, f"{len(job.failed())} sends failed: {job.failed()[:3]}"
    check_exactly_once_in_order(acked, read_all(cluster.bootstrap, "ledger"))


def test_min_insync_replicas_guards_acks_all_and_the_isr_grows_back(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(
        overrides={"timeouts": {"replica_lag_time_max_ms": 1500}})
    create(cluster, "guarded", partitions=1, configs={"min.insync.replicas": "2"})
    leader = cluster.metadata(linearizable=True).partition("guarded", 0)["leader"]
    others = [b for b in (1, 2, 3) if b != leader]
    strict = Producer(cluster.bootstrap, acks="all", delivery_timeout_ms=4000,
                      request_timeout_ms=2000, retry_backoff_ms=50)
    loose = Producer(cluster.bootstrap, acks=1, enable_idempotence=False)
    try:
        strict.send("guarded", b"before").get(10)
        cluster.kill(f"broker-{others[0]}")
        assert strict.send("guarded", b"one down").get(20).offset == 1  # ISR of 2 is enough
        cluster.kill(f"broker-{others[1]}")
        wait_until(lambda: cluster.metadata(linearizable=True).partition("guarded", 0)["isr"]
                   == [leader], timeout_s=20, what="the ISR to shrink to the leader")
        with pytest.raises(KafkaError) as info:
            strict.send("guarded", b"two down").get(20)
        assert "NOT_ENOUGH_REPLICAS" in str(info.value)
        assert loose.send("guarded", b"acks=1 still works").get(10).offset >= 2
        values = [r.value for r in read_all(cluster.bootstrap, "guarded")]
        assert values[:2] == [b"before", b"one down"] and b"acks=1 still works" in values
        for b in others:
            cluster.start_node(f"broker-{b}")
        wait_until(lambda: isr_full(cluster, "guarded"), timeout_s=30, what="ISR back to 3")
        assert strict.send("guarded", b"healed").get(10)
    finally:
        strict.close()
        loose.close()


def test_rolling_restart_is_invisible_to_producer_and_consumer(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    create(cluster, "rolling", partitions=3)
    job = BackgroundProducer(cluster.bootstrap, "rolling", 30_000, keys=50, rate_per_s=2000,
                             delivery_timeout_ms=120_000).start()
    consumer = Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("rolling", p) for p in range(3)])
    seen = []
    try:
        for broker in ("broker-1", "broker-2", "broker-3"):
            for recs in consumer.poll(200).values():
                seen.extend(recs)
            cluster.restart(broker)  # SIGTERM: controlled shutdown first
            wait_until(lambda: isr_full(cluster, "rolling"), timeout_s=30, what="ISR healed")
        job.join()
        ends = consumer.end_offsets([TopicPartition("rolling", p) for p in range(3)])
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for recs in consumer.poll(1000).values():
                seen.extend(recs)
    finally:
        consumer.close()
    assert not job.failed(), job.failed()[:3]
    check_exactly_once_in_order(job.acknowledged(), seen)


def test_clients_fail_fast_and_clearly_on_bad_input(mini_kafka_cluster_factory, tmp_path):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    with pytest.raises(ValueError, match="bad bootstrap server 'nohost'"):
        Producer("nohost")
    with Producer(cluster.bootstrap, max_block_ms=2000) as producer:
        with pytest.raises(KafkaError, match="UNKNOWN_TOPIC_OR_PARTITION"):
            producer.send("no-such-topic", b"x")
        with pytest.raises(TypeError, match="value must be bytes"):
            producer.send("no-such-topic", "text")
    with pytest.raises(KafkaTimeoutError):
        Producer("127.0.0.1:1", max_block_ms=1000, request_timeout_ms=500).send("t", b"x")


def test_a_broker_lagging_on_metadata_never_calls_a_created_topic_unknown(
        mini_kafka_cluster_factory):
    """A topic committed by the controller exists for every client at once, even when
    the broker asked has not yet followed the metadata log that far."""
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    # Everything between broker-1 and the controller is slow: its metadata trails.
    chaos.add_rules(cluster, "broker-1", [{"peer": "coordinator-1", "direction": "both",
                                           "delay_ms": 400}])
    lagging = Admin(cluster.config.node("broker-1").endpoint)
    try:
        for i in range(3):
            cluster.write_metadata({"op": "create_topic", "name": f"fresh-{i}",
                                    "partitions": 1, "replication_factor": 1,
                                    "configs": {"min.insync.replicas": "1"}})
            [topic] = lagging.describe_topics([f"fresh-{i}"])
            assert topic["name"] == f"fresh-{i}" and len(topic["partitions"]) == 1
    finally:
        lagging.close()


@pytest.mark.slow
def test_acks_1_loses_only_what_killed_leaders_had_not_replicated(mini_kafka_cluster, capsys):
    """acks=1 is acknowledged by the leader alone: kill it before its followers fetch and
    those records are gone. This run shows how many; it checks that every loss came from
    a partition whose leader was killed while leading it."""
    cluster = mini_kafka_cluster
    create(cluster, "fast-and-loose")
    job = BackgroundProducer(cluster.bootstrap, "fast-and-loose", 60_000, keys=300, acks=1,
                             enable_idempotence=False, rate_per_s=6000).start()
    killed_leaders: dict[int, set[int]] = {}  # partition -> brokers killed while leading it
    for victim in (1, 2):  # partitions broker 3 leads throughout are the control group
        sent_before = len(job.sent)
        wait_until(lambda n=sent_before: len(job.sent) > n + 5000, timeout_s=60,
                   what="progress")
        image = cluster.metadata(linearizable=True)
        for p in image.topic_partitions("fast-and-loose"):
            if p["leader"] == victim:
                killed_leaders.setdefault(p["partition"], set()).add(victim)
        cluster.kill(f"broker-{victim}")
        wait_until(lambda v=victim: all(p["leader"] != v for p in cluster.metadata(
            linearizable=True).topic_partitions("fast-and-loose")), timeout_s=20,
            what="leaders moved")
        cluster.start_node(f"broker-{victim}")
        wait_until(lambda: isr_full(cluster, "fast-and-loose"), timeout_s=30, what="ISR")
    job.join()
    acked = job.acknowledged()
    present = {r.value for r in read_all(cluster.bootstrap, "fast-and-loose")}
    lost = [(v, meta) for _, v, meta in acked if v not in present]
    with capsys.disabled():
        print(f"\nacks=1 under 2 leader-broker kills: {len(acked)} acknowledged, {len(lost)} lost "
              f"({len(job.failed())} sends failed)")
    assert len(killed_leaders) < 6, "some partitions must keep their leader throughout"
    for value, meta in lost:
        assert meta.partition in killed_leaders, f"{value} lost from an unharmed partition"



def test_topics_are_created_on_first_use_only_when_enabled(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(
        coordinators=1, brokers=3, overrides={"topics": {"auto_create_topics_enable": True}})
    with Producer(cluster.bootstrap) as producer:
        producer.send("made-on-demand", b"hello").get(20)
    image = cluster.metadata(linearizable=True)
    assert len(image.topic_partitions("made-on-demand")) == 3  # topics.num_partitions


def test_a_request_naming_a_stale_leader_epoch_is_fenced(mini_kafka_cluster):
    from mini_kafka.protocol import ApiKey
    from mini_kafka.transport import call

    cluster = mini_kafka_cluster
    create(cluster, "epochs", partitions=1)
    old = cluster.metadata(linearizable=True).partition("epochs", 0)
    cluster.kill(f"broker-{old['leader']}")
    new = wait_until(lambda: (p := cluster.metadata(linearizable=True).partition(
        "epochs", 0))["leader"] not in (-1, old["leader"]) and p, timeout_s=20,
        what="a new leader")
    endpoint = cluster.config.node(f"broker-{new['leader']}").endpoint

    def fetch(epoch):
        body = {"partitions": [{"topic": "epochs", "partition": 0, "fetch_offset": 0,
                                "current_leader_epoch": epoch}]}
        return call(endpoint, ApiKey.FETCH, body).body["partitions"][0]["error"]

    wait_until(lambda: fetch(new["leader_epoch"]) == "NONE", what="the new leader to lead")
    assert fetch(old["leader_epoch"]) == "FENCED_LEADER_EPOCH"
    assert fetch(new["leader_epoch"] + 5) == "UNKNOWN_LEADER_EPOCH"


def test_acks_0_does_not_wait_and_the_records_still_arrive(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    create(cluster, "fire", partitions=1, rf=1)
    with Producer(cluster.bootstrap, acks=0) as producer:
        metas = [producer.send("fire", b"%d" % i).get(10) for i in range(100)]
    assert {m.offset for m in metas} == {-1}, "with acks=0 nobody says where it went"
    assert [r.value for r in read_all(cluster.bootstrap, "fire")] == [b"%d" % i
                                                                      for i in range(100)]


def test_a_stuck_cluster_blocks_send_then_expires_records(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    create(cluster, "stuck", partitions=1, rf=1)
    producer = Producer(cluster.bootstrap, buffer_memory=20_000, max_block_ms=500,
                        delivery_timeout_ms=1500, request_timeout_ms=500, linger_ms=0)
    try:
        producer.send("stuck", b"warm").get(10)
        cluster.pause("broker-1")
        pending = []
        with pytest.raises(KafkaTimeoutError, match="buffer_memory"):
            for _ in range(1000):  # the buffer fills; then send() blocks, then gives up
                pending.append(producer.send("stuck", b"x" * 100))
        assert pending, "some records were buffered before it filled"
        with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms"):
            pending[0].get(20)
    finally:
        cluster.resume("broker-1")
        producer.close(10)


def test_a_record_is_handed_out_without_waiting_for_idle_leaders_long_polls(
        mini_kafka_cluster_factory):
    # Brokers hold a long poll up to their request timeout: make that 30 s.
    cluster = mini_kafka_cluster_factory(overrides={"timeouts": {"request_timeout_ms": 30_000}})
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("quiet", 3, 3)])
    leaders = {p["leader"] for p in cluster.metadata().topic_partitions("quiet")}
    assert len(leaders) == 3, "each partition led by another broker"
    # Long polls of 30 s: partitions 1 and 2 stay empty, so their leaders hold their
    # fetches the whole time. The record on partition 0 must not wait for them.
    with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest",
                  fetch_max_wait_ms=30_000, request_timeout_ms=5_000) as consumer, \
            Producer(cluster.bootstrap) as producer:
        consumer.assign([TopicPartition("quiet", p) for p in range(3)])
        producer.send("quiet", b"hello", partition=0).get(10)
        began = time.monotonic()
        polled = consumer.poll(60_000)
        waited_s = time.monotonic() - began
    assert [r.value for recs in polled.values() for r in recs] == [b"hello"]
    assert waited_s < 15, f"held {waited_s:.1f} s behind the idle leaders' long polls"

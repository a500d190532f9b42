"""Storage faults on a real cluster: a full disk (the brokers' injected seam, driven like
any chaos fault), corruption found after a clean shutdown, and data of deleted topics."""

from __future__ import annotations

import asyncio
import time

from launcher.processes import log_path, log_tail, stop_all
from mini_kafka import records
from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from mini_kafka.protocol import ApiKey
from mini_kafka.transport import Client
from tests.integration.test_cluster import cli
from tests.integration.test_idle_replication import wait_isrs_whole

SETTLE_S = 15


def wait_for(predicate, what: str, timeout_s: float = SETTLE_S):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def partition_state(cluster, topic="t", partition=0) -> dict:
    return cluster.metadata(linearizable=True).partition(topic, partition)


def raw_produce(cluster, broker: int, value: bytes, topic="t") -> dict:
    """One produce request straight to a broker, no client retries: what it answers."""
    async def once():
        client = Client("test", request_timeout_ms=5000, retries_max=0)
        try:
            reply = await client.request(
                cluster.config.node(f"broker-{broker}").endpoint, ApiKey.PRODUCE,
                {"acks": -1, "timeout_ms": 5000,
                 "partitions": [{"topic": topic, "partition": 0, "batch": 0}]},
                [records.encode_batch([(None, value, int(time.time() * 1000), None)])])
        finally:
            client.close()
        return reply.body["partitions"][0]
    return asyncio.run(once())


def read_values(cluster, topic="t") -> list[bytes]:
    with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest") as c:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        end = c.end_offsets([tp])[tp]
        out = []
        deadline = time.monotonic() + SETTLE_S
        while c.position(tp) < end:
            assert time.monotonic() < deadline, (
                f"could not read the topic back: at {c.position(tp)} of {end}\n"
                + "\n".join(f"--- broker-{b}:\n{log_tail(cluster.data_dir, f'broker-{b}', 15)}"
                            for b in (1, 2, 3)))
            for recs in c.poll(500).values():
                out.extend(r.value for r in recs)
        return out


def create(cluster, name="t", partitions=1) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(name, partitions, 3, {"min.insync.replicas": "2"})])


def test_a_full_disk_fails_produce_moves_leadership_and_recovers(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    config = ["--config", str(cluster._config_path)]
    create(cluster)
    with Producer(cluster.bootstrap) as producer:
        for i in range(10):
            producer.send("t", b"before-%d" % i, partition=0)
    full = partition_state(cluster)["leader"]
    out = cli("chaos", "disk-full", f"broker-{full}", *config).stdout
    assert "fails with ENOSPC" in out
    answer = raw_produce(cluster, full, b"refused")
    assert answer["error"] == "KAFKA_STORAGE_ERROR", answer
    wait_for(lambda: partition_state(cluster)["leader"] not in (full, -1),
             "leadership to move off the full broker")
    assert full not in partition_state(cluster)["isr"]
    assert "offline on this broker (KAFKA_STORAGE_ERROR)" in \
        log_path(cluster.data_dir, f"broker-{full}").read_text()
    status = cli("cluster", "status", *config).stdout
    assert "1 replica(s) offline (storage errors), disk full (chaos)" in status
    with Producer(cluster.bootstrap) as producer:  # writes go on on the others
        for i in range(10):
            producer.send("t", b"during-%d" % i, partition=0).get(20)
    cli("chaos", "disk-full", f"broker-{full}", "--off", *config)
    wait_isrs_whole(cluster, SETTLE_S)
    assert "back online on this broker" in \
        log_path(cluster.data_dir, f"broker-{full}").read_text()
    expected = [b"before-%d" % i for i in range(10)] + [b"during-%d" % i for i in range(10)]
    assert read_values(cluster) == expected, "every acknowledged record, once, in order"


def test_a_broker_restarted_on_a_full_disk_serves_once_there_is_room(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    create(cluster, partitions=3)
    with Producer(cluster.bootstrap) as producer:
        for p in range(3):
            producer.send("t", b"x", partition=p).get(20)
    cluster.disk_full("broker-2")
    cluster.restart("broker-2")  # ready: registered and unfenced, its replicas offline
    image = cluster.metadata(linearizable=True)
    for p in image.topic_partitions("t"):
        assert p["leader"] != 2 and 2 not in p["isr"], p
    assert sorted(image.brokers[2]["offline"]) == ["t/0", "t/1", "t/2"]
    cluster.heal()  # clears the disk fault too
    wait_isrs_whole(cluster, SETTLE_S)
    assert cluster.metadata().brokers[2]["offline"] == []


def test_a_replica_corrupted_across_a_clean_stop_never_leads_over_clean_ones(
        mini_kafka_cluster):
    """cluster down in order 1, 2, 3 leaves broker 3 the last in-sync replica and broker
    2 an eligible one; broker 3's log is corrupted while down. After up, broker 2 leads,
    broker 3 cuts its log and fetches the rest again: nothing acknowledged is lost and no
    consumer sees a CRC error."""
    cluster = mini_kafka_cluster
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 1, 3, {"min.insync.replicas": "2"})])
    with Producer(cluster.bootstrap) as producer:
        for i in range(50):
            producer.send("t", b"record-%d" % i, partition=0)
    wait_isrs_whole(cluster, SETTLE_S)
    grace_s = cluster.config.timeouts.node_shutdown_grace_ms / 1000
    for b in (1, 2, 3):
        stop_all([cluster.nodes[f"broker-{b}"]], grace_s)
    p = partition_state(cluster)
    assert (p["isr"], p["elr"]) == ([3], [2]), p
    segment = cluster.data_dir / "broker-3" / "t-0" / f"{0:020d}.log"
    data = bytearray(segment.read_bytes())
    data[-10] ^= 0xFF  # inside the last batch
    segment.write_bytes(bytes(data))
    cluster.stop()
    cluster.start()
    log3 = log_path(cluster.data_dir, "broker-3").read_text()
    assert "lost data to corruption" in log3
    wait_for(lambda: partition_state(cluster)["leader"] == 2, "broker 2 to lead")
    assert read_values(cluster) == [b"record-%d" % i for i in range(50)]
    wait_isrs_whole(cluster, SETTLE_S)


def test_data_of_deleted_topics_leaves_every_broker_even_one_that_was_down(
        mini_kafka_cluster):
    cluster = mini_kafka_cluster
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("keep", 2, 3), NewTopic("gone", 2, 3),
                             NewTopic("again", 1, 3)])
    with Producer(cluster.bootstrap) as producer:
        for topic in ("keep", "gone", "again"):
            producer.send(topic, b"old-data-marker", partition=0).get(20)
        # Both kept partitions hold data: a replica never written has no directory.
        producer.send("keep", b"old-data-marker", partition=1).get(20)
    wait_isrs_whole(cluster, SETTLE_S)
    cluster.kill("broker-2")
    with Admin(cluster.bootstrap) as admin:
        admin.delete_topics(["gone", "again"])
    broker_dir = {b: cluster.data_dir / f"broker-{b}" for b in (1, 2, 3)}
    wait_for(lambda: not any((broker_dir[b] / d).exists() for b in (1, 3)
                             for d in ("gone-0", "gone-1", "again-0")),
             "the running brokers to delete the topics' data")
    # The same name, a new topic; once broker 2 is fenced (its dropped connection does
    # that at once, in the controller's next fence write) it is placed on the two live
    # brokers only.
    wait_for(lambda: cluster.metadata(linearizable=True).brokers[2]["fenced"],
             "broker-2 fenced")
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("again", 1, 2)])
    with Producer(cluster.bootstrap) as producer:
        producer.send("again", b"new", partition=0).get(20)
    assert (broker_dir[2] / "gone-0").exists() and (broker_dir[2] / "again-0").exists()
    cluster.start_node("broker-2")
    wait_for(lambda: not any((broker_dir[2] / d).exists()
                             for d in ("gone-0", "gone-1", "again-0")),
             "broker 2 to remove gone-* and the old again-0")
    assert (broker_dir[2] / "keep-0").exists() and (broker_dir[2] / "keep-1").exists()
    wait_isrs_whole(cluster, SETTLE_S)
    for b in (1, 3):
        held = b"".join(f.read_bytes() for f in (broker_dir[b] / "again-0").glob("*.log"))
        assert b"new" in held and b"old-data-marker" not in held


def test_corruption_in_an_old_segment_is_caught_when_served_and_never_reaches_a_consumer(
        mini_kafka_cluster):
    """As above, but the damage is in a segment rolled long before the stop, which an
    open does not read: broker 3 leads until the first read of it, goes offline there,
    cuts the segment when it opens the log again, and hands over to broker 2."""
    cluster = mini_kafka_cluster
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 1, 3, {"min.insync.replicas": "2",
                                                  "segment.bytes": "2048"})])
    with Producer(cluster.bootstrap, linger_ms=0) as producer:
        for i in range(60):
            producer.send("t", b"record-%03d" % i + b"." * 100, partition=0).get(20)
    wait_isrs_whole(cluster, SETTLE_S)
    grace_s = cluster.config.timeouts.node_shutdown_grace_ms / 1000
    for b in (1, 2, 3):
        stop_all([cluster.nodes[f"broker-{b}"]], grace_s)
    segments = sorted((cluster.data_dir / "broker-3" / "t-0").glob("*.log"))
    assert len(segments) > 3
    data = bytearray(segments[1].read_bytes())
    data[100] ^= 0xFF
    segments[1].write_bytes(bytes(data))
    cluster.stop()
    cluster.start()
    values = read_values(cluster)
    assert [v[:10] for v in values] == [b"record-%03d" % i for i in range(60)]
    log3 = log_path(cluster.data_dir, "broker-3")
    assert "CorruptSegmentError" in log3.read_text()
    # The cut is made when the storage retry (storage_retry_interval_ms) opens the log
    # again, which may come after the consumer is done.
    wait_for(lambda: "lost data to corruption" in log3.read_text(),
             "broker-3 to cut the corrupt segment when it reopens the log")
    wait_isrs_whole(cluster, SETTLE_S)

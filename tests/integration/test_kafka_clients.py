"""Unchanged Kafka clients and tools against a real cluster, through the brokers' Kafka
listeners: kcat, confluent-kafka (librdkafka), kafka-python and aiokafka — and
mini-kafka's own client on the same topics and groups. One cluster for the module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer as RdConsumer
from confluent_kafka import Producer as RdProducer
from confluent_kafka import TopicPartition as RdTopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from launcher.cluster import Cluster
from launcher.pytest_plugin import test_cluster_config
from mini_kafka.client import Admin, Consumer, Producer, TopicPartition
from tests.helpers import wait_until
from tests.integration.kafka_clients import aio, consume, kcat, kcat_metadata, produce

CODECS = ["gzip", "snappy", "lz4", "zstd"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    config = test_cluster_config(tmp_path_factory.mktemp("kafka-clients"), overrides={
        "topics": {"auto_create_topics_enable": True, "num_partitions": 3}})
    c = Cluster(config).start()
    yield c
    c.stop()


def create(cluster, name: str, partitions: int = 3, rf: int = 3) -> str:
    with Admin(cluster.bootstrap) as admin:
        from mini_kafka.client import NewTopic as MkNewTopic
        admin.create_topics([MkNewTopic(name, num_partitions=partitions,
                                        replication_factor=rf)])
    return name


def mini_kafka_cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


# -- tools -----------------------------------------------------------------------------------


def test_kcat_bootstraps_from_any_broker_and_sees_all_of_them(cluster):
    addresses = cluster.kafka_bootstrap.split(",")
    for address in addresses:
        meta = kcat_metadata(address)
        assert sorted(f"{b['name'].split('/')[0]}" for b in meta["brokers"]) == \
            sorted(addresses)
        assert meta["controllerid"] in (1, 2, 3)


def test_a_topic_made_by_kcat_is_a_topic_of_the_cluster(cluster):
    """Auto-creation on (this cluster's config): kcat's produce creates the topic."""
    kcat("-b", cluster.kafka_bootstrap, "-P", "-t", "made-by-kcat", "-K:",
         stdin="a:1\nb:2\nc:3\n")
    assert "made-by-kcat" in mini_kafka_cli("topic", "list", "--bootstrap-server",
                                            cluster.bootstrap).split()
    out = kcat("-b", cluster.kafka_bootstrap, "-C", "-t", "made-by-kcat", "-e", "-q",
               "-f", "%k=%s\n")
    assert sorted(out.split()) == ["a=1", "b=2", "c=3"]


# -- producing and consuming -----------------------------------------------------------------


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_confluent_produces_with_each_acks_and_reads_back(cluster, acks):
    topic = create(cluster, f"acks-{acks}")
    rows = [(b"k%d" % i, b"v%d" % i) for i in range(2_000)]
    reports = produce(cluster.kafka_bootstrap, topic, rows, acks=acks)
    assert all(err is None for err, _, _ in reports)
    if acks != "0":  # acks=0: nobody tells the producer where a record went
        assert len({(p, o) for _, p, o in reports}) == len(rows)
    got = consume(cluster.kafka_bootstrap, topic, len(rows))
    assert sorted(m.value() for m in got) == sorted(v for _, v in rows)


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_produced_by_one_client_is_read_by_the_others(cluster, codec):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = create(cluster, f"codec-{codec}")
    rows = [(b"rd-%d" % i, b"librdkafka %s %d " % (codec.encode(), i) * 5)
            for i in range(300)]
    produce(cluster.kafka_bootstrap, topic, rows, **{"compression.type": codec})

    async def aio_round():
        producer = AIOKafkaProducer(bootstrap_servers=cluster.kafka_bootstrap,
                                    compression_type=codec, acks="all")
        await producer.start()
        try:
            for i in range(300):
                await producer.send(topic, b"aiokafka %d" % i, key=b"aio-%d" % i)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=cluster.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        seen = []
        try:
            while len(seen) < 900:
                batch = await consumer.getmany(timeout_ms=500)
                seen += [m.key for msgs in batch.values() for m in msgs]
        finally:
            await consumer.stop()
        return seen

    with Producer(cluster.bootstrap, compression_type=codec) as mk:
        for i in range(300):
            mk.send(topic, b"mini-kafka %d" % i, key=b"mk-%d" % i)
    seen_by_aiokafka = aio(aio_round())
    seen_by_librdkafka = [m.key() for m in consume(cluster.kafka_bootstrap, topic, 900)]
    with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest") as c:
        c.assign([TopicPartition(topic, p) for p in range(3)])
        seen_by_mini_kafka = []
        deadline = time.monotonic() + 30
        while len(seen_by_mini_kafka) < 900 and time.monotonic() < deadline:
            seen_by_mini_kafka += [r.key for rs in c.poll(500).values() for r in rs]
    expected = sorted([b"rd-%d" % i for i in range(300)] + [b"aio-%d" % i for i in range(300)]
                      + [b"mk-%d" % i for i in range(300)])
    for seen in (seen_by_aiokafka, seen_by_librdkafka, seen_by_mini_kafka):
        assert sorted(seen) == expected


def test_kafka_python_gzip_and_idempotence_reach_librdkafka(cluster):
    from kafka import KafkaProducer

    topic = create(cluster, "kafka-python")
    producer = KafkaProducer(bootstrap_servers=cluster.kafka_bootstrap, acks="all",
                             compression_type="gzip", enable_idempotence=True)
    futures = [producer.send(topic, key=b"%d" % i, value=b"kp %d" % i) for i in range(500)]
    producer.flush(30)
    producer.close()
    assert all(f.succeeded() for f in futures)
    got = consume(cluster.kafka_bootstrap, topic, 500)
    assert sorted(m.value() for m in got) == sorted(b"kp %d" % i for i in range(500))


# -- groups ----------------------------------------------------------------------------------


def test_commit_and_resume_across_librdkafka_consumers(cluster):
    topic = create(cluster, "resume")
    produce(cluster.kafka_bootstrap, topic, [(None, b"%d" % i) for i in range(300)])
    conf = {"group.id": "resumers", "subscribe": True}
    first = consume(cluster.kafka_bootstrap, topic, 300, **conf)
    # Commit up to 100 records of each partition; a new member resumes there.
    per_partition = {}
    for m in first:
        per_partition.setdefault(m.partition(), []).append(m)
    committer = RdConsumer({"bootstrap.servers": cluster.kafka_bootstrap,
                            "group.id": "resumers", "enable.auto.commit": False})
    offsets = [RdTopicPartition(topic, p, ms[len(ms) // 2].offset())
               for p, ms in per_partition.items()]
    committer.commit(offsets=offsets, asynchronous=False)
    assert {(tp.partition, tp.offset) for tp in committer.committed(offsets, timeout=10)} == \
        {(tp.partition, tp.offset) for tp in offsets}
    committer.close()
    expected = sum(len(ms) - len(ms) // 2 for ms in per_partition.values())
    resumed = consume(cluster.kafka_bootstrap, topic, expected, **conf)
    assert len(resumed) == expected
    assert {(m.partition(), m.offset()) for m in resumed} == {
        (p, m.offset()) for p, ms in per_partition.items() for m in ms[len(ms) // 2:]}
    with Admin(cluster.bootstrap) as admin:  # the commits, as mini-kafka's admin sees them
        assert admin.list_consumer_group_offsets("resumers") == {
            (topic, tp.partition): tp.offset for tp in offsets}


# A group member in its own process: it polls until its stdin closes, then leaves the
# group cleanly (close); killed, it just stops heartbeating.
GROUP_MEMBER = """
import sys, threading
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "session.timeout.ms": 3000, "heartbeat.interval.ms": 500,
              "partition.assignment.strategy": "range", "client.id": sys.argv[3]})
c.subscribe([sys.argv[4]])
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.is_set():
    c.poll(0.2)
c.close()
"""


def members(cluster, group: str) -> dict[str, set]:
    with Admin(cluster.bootstrap) as admin:
        [described] = admin.describe_consumer_groups([group])
    if described["state"] != "Stable":
        return {}
    return {m["client_id"]: set(m["partitions"]) for m in described["members"]}


def test_librdkafka_members_rebalance_as_they_join_leave_and_die(cluster, tmp_path):
    topic = create(cluster, "rebalance", partitions=6)
    script = tmp_path / "member.py"
    script.write_text(GROUP_MEMBER)
    procs = {}

    def start(name):
        procs[name] = subprocess.Popen(
            [sys.executable, str(script), cluster.kafka_bootstrap, "rebalancers", name,
             topic], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

    def spread(names):
        now = members(cluster, "rebalancers")
        if set(now) != set(names):
            return None
        owned = [tp for tps in now.values() for tp in tps]
        whole = sorted(owned) == [(topic, p) for p in range(6)]
        return now if whole and all(now.values()) else None

    try:
        for name in ("m1", "m2", "m3"):
            start(name)
        three = wait_until(lambda: spread({"m1", "m2", "m3"}), 60, 0.2, "3 members")
        assert sorted(len(tps) for tps in three.values()) == [2, 2, 2]
        described = mini_kafka_cli("group", "describe", "rebalancers", "--members",
                                   "--bootstrap-server", cluster.bootstrap)
        assert all(name in described for name in ("m1", "m2", "m3"))
        procs["m1"].stdin.close()  # leaves the group (LeaveGroup), no session to wait out
        procs["m1"].wait(30)
        wait_until(lambda: spread({"m2", "m3"}), 60, 0.2, "2 members after one left")
        procs["m2"].kill()  # SIGKILL: no goodbye; its session (3 s) runs out
        procs["m2"].wait(10)
        only = wait_until(lambda: spread({"m3"}), 60, 0.2, "1 member after one died")
        assert len(only["m3"]) == 6
    finally:
        for p in procs.values():
            p.kill()
            p.wait(10)


def test_mini_kafka_and_librdkafka_consumers_share_a_group(cluster):
    topic = create(cluster, "mixed", partitions=4)
    produce(cluster.kafka_bootstrap, topic, [(b"%d" % i, b"rd %d" % i) for i in range(200)])
    with Producer(cluster.bootstrap) as mk:
        for i in range(200):
            mk.send(topic, b"mk %d" % i, key=b"m%d" % i)
    ours = Consumer(topic, bootstrap_servers=cluster.bootstrap, group_id="mixed",
                    auto_offset_reset="earliest", client_id="mini-kafka-member",
                    partition_assignment_strategy=["range"])
    theirs = RdConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "mixed",
                         "auto.offset.reset": "earliest", "client.id": "librdkafka-member",
                         "partition.assignment.strategy": "range"})
    theirs.subscribe([topic])
    seen = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen += [r.value for rs in ours.poll(100).values() for r in rs]
            seen += [m.value() for m in theirs.consume(500, 0.1) if not m.error()]
            split = members(cluster, "mixed")
            if len(seen) >= 400 and len(split) == 2:
                break
        split = members(cluster, "mixed")
        assert set(split) == {"mini-kafka-member", "librdkafka-member"}
        assert all(len(tps) == 2 for tps in split.values())
        assert sorted(seen) == sorted([b"rd %d" % i for i in range(200)]
                                      + [b"mk %d" % i for i in range(200)])
    finally:
        ours.close()
        theirs.close()


# -- transactions ----------------------------------------------------------------------------


def test_transactions_commit_and_abort_under_read_committed(cluster):
    topic = create(cluster, "txn")
    producer = RdProducer({"bootstrap.servers": cluster.kafka_bootstrap,
                           "transactional.id": "kafka-clients-txn"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(50):
        producer.produce(topic, key=b"c", value=b"committed %d" % i)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(50):
        producer.produce(topic, key=b"a", value=b"aborted %d" % i)
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key=b"c", value=b"committed last")
    producer.commit_transaction(30)
    committed = consume(cluster.kafka_bootstrap, topic, 51,
                        **{"isolation.level": "read_committed"})
    assert sorted(m.value() for m in committed) == sorted(
        [b"committed %d" % i for i in range(50)] + [b"committed last"])
    everything = consume(cluster.kafka_bootstrap, topic, 101,
                         **{"isolation.level": "read_uncommitted"})
    assert sum(m.key() == b"a" for m in everything) == 50
    with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest",
                  isolation_level="read_committed") as ours:  # our reader agrees
        ours.assign([TopicPartition(topic, p) for p in range(3)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 51 and time.monotonic() < deadline:
            got += [r.value for rs in ours.poll(500).values() for r in rs]
        assert sorted(got) == sorted(m.value() for m in committed)


# -- administration --------------------------------------------------------------------------


def test_confluent_admin_creates_describes_grows_and_deletes_topics(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap})
    done = admin.create_topics([NewTopic("admin-made", 2, 3,
                                         config={"retention.ms": "3600000"})])
    done["admin-made"].result(30)
    again = admin.create_topics([NewTopic("admin-made", 2, 3)])
    with pytest.raises(Exception, match="TOPIC_ALREADY_EXISTS"):
        again["admin-made"].result(30)
    [configs] = admin.describe_configs([ConfigResource("topic", "admin-made")]).values()
    entries = configs.result(30)
    assert entries["retention.ms"].value == "3600000"
    assert entries["cleanup.policy"].value == "delete"
    admin.create_partitions([NewPartitions("admin-made", 5)])["admin-made"].result(30)
    wait_until(lambda: len(admin.list_topics(timeout=10).topics["admin-made"].partitions) == 5,
               30, 0.2, "5 partitions")
    assert "admin-made" in mini_kafka_cli("topic", "list", "--bootstrap-server",
                                          cluster.bootstrap).split()
    admin.delete_topics(["admin-made"])["admin-made"].result(30)
    wait_until(lambda: "admin-made" not in admin.list_topics(timeout=10).topics, 30, 0.2,
               "topic deleted")


def test_kafka_python_admin_creates_and_deletes_topics(cluster):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic as KpNewTopic

    admin = KafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap)
    try:
        admin.create_topics([KpNewTopic("kp-admin", 3, 2)])
        assert "kp-admin" in admin.list_topics()
        admin.delete_topics(["kp-admin"])
        wait_until(lambda: "kp-admin" not in admin.list_topics(), 30, 0.2, "deleted")
    finally:
        admin.close()


# -- hostile input -----------------------------------------------------------------------------


def test_garbage_on_the_listener_is_refused_logged_at_a_bounded_rate_and_survived(cluster):
    import socket
    import struct

    host, port = cluster.kafka_bootstrap.split(",")[0].split(":")
    streams = [b"GET / HTTP/1.1\r\n\r\n", struct.pack(">i", 2**31 - 1),
               struct.pack(">ihhih", 10, 4242, 0, 1, 0),
               struct.pack(">ihhih", 12, 3, 1, 1, 0) + b"\x00\x00\x00\x09"] * 50
    for stream in streams:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(stream)
            sock.settimeout(5)
            assert sock.recv(100) == b""  # closed, without an answer
    assert kcat_metadata(cluster.kafka_bootstrap)["brokers"]  # still serving
    log = (cluster.data_dir / "broker-1" / "broker-1.log").read_text()
    refusals = log.count("Kafka listener: closing the connection")
    assert 1 <= refusals <= 20, f"{refusals} lines for 200 bad connections"
    assert "similar line(s) suppressed" in log or refusals < 20


# -- kafkajs (npm) -----------------------------------------------------------------------------

KAFKAJS_DIR = Path(__file__).parent / "kafkajs"


def test_kafkajs_produces_and_consumes_alongside_librdkafka(cluster):
    """kafkajs ignores a broker's minimum versions and fails on a missing API key: it
    checks the advertised set as a whole. Installed by .ci/run (npm ci)."""
    if not (KAFKAJS_DIR / "node_modules" / "kafkajs").exists() or not shutil.which("node"):
        message = f"kafkajs is not installed: npm ci --prefix {KAFKAJS_DIR}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    topic = create(cluster, "kafkajs")
    produce(cluster.kafka_bootstrap, topic, [(b"rd%d" % i, b"librdkafka %d" % i)
                                             for i in range(100)])
    out = subprocess.run(["node", str(KAFKAJS_DIR / "round_trip.js"), cluster.kafka_bootstrap,
                          topic, "200"], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)["values"]
    expected = sorted([f"librdkafka {i}" for i in range(100)] +
                      [f"kafkajs {i}" for i in range(100)])
    assert sorted(values) == expected
    assert sorted(m.value().decode() for m in consume(cluster.kafka_bootstrap, topic, 200)) \
        == expected

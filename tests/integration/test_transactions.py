"""Exactly-once consume-transform-produce on a real cluster, with workers killed -9 and a
broker killed under them: read_committed, the output holds every input record once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest

from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from mini_kafka.errors import KafkaError
from tests.helpers import wait_until

RECORDS = 3000


def start_worker(cluster, index: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.eos_worker", cluster.bootstrap, "input",
         "output", "eos-group", f"eos-worker-{index}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def committed_output(cluster, timeout_s: float = 60) -> list[bytes]:
    """Every committed record of `output`, read to its last stable offset."""
    with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest",
                  isolation_level="read_committed") as consumer:
        tps = [TopicPartition("output", p) for p in range(6)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read the output back"
            out += [r.value for recs in consumer.poll(500).values() for r in recs]
        return out


def test_exactly_once_through_worker_and_broker_kills(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("input", 6, 3), NewTopic("output", 6, 3)])
    with Producer(cluster.bootstrap) as producer:
        for i in range(RECORDS):
            producer.send("input", b"record-%d" % i, key=b"k%d" % (i % 60))
    workers = {i: start_worker(cluster, i) for i in range(3)}
    try:
        wait_until(lambda: len(committed_output(cluster)) > RECORDS // 10, timeout_s=60,
                   what="the workers under way")
        workers[0].kill()  # kill -9 mid-transaction: its open transaction times out
        wait_until(lambda: len(committed_output(cluster)) > RECORDS // 3, timeout_s=60,
                   what="progress without worker 0")
        workers[0].wait()
        workers[0] = start_worker(cluster, 0)  # same transactional id: fences and aborts
        victim = cluster.metadata().partition("output", 0)["leader"]
        cluster.kill(f"broker-{victim}")
        workers[1].kill()
        wait_until(lambda: len(set(committed_output(cluster))) == RECORDS, timeout_s=120,
                   interval_s=0.5, what="every input record in the output")
    finally:
        for w in workers.values():
            w.kill()
            w.wait()
    output = committed_output(cluster)
    duplicates = [v for v, n in Counter(output).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} records written twice, e.g. {duplicates[:3]}"
    assert sorted(output) == sorted(b"record-%d" % i for i in range(RECORDS))


def test_a_read_committed_consumer_never_sees_aborted_or_open_transactions(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=3)
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 2, 3)])
    producer = Producer(cluster.bootstrap, transactional_id="tx", linger_ms=0)
    zombie = None
    try:
        with pytest.raises(KafkaError, match="INVALID_TXN_STATE"):
            producer.begin_transaction()  # before init_transactions
        producer.init_transactions()
        with pytest.raises(KafkaError, match="no transaction in progress"):
            producer.send("t", b"outside")
        producer.begin_transaction()
        for i in range(4):
            producer.send("t", b"committed-%d" % i, partition=i % 2)
        producer.send_offsets_to_transaction({TopicPartition("src", 0): 42}, "txn-group")
        producer.commit_transaction()
        producer.begin_transaction()
        for i in range(4):
            producer.send("t", b"aborted-%d" % i, partition=i % 2)
        producer.send_offsets_to_transaction({TopicPartition("src", 0): 99}, "txn-group")
        producer.flush()
        with Consumer(bootstrap_servers=cluster.bootstrap, group_id="txn-group",
                      request_timeout_ms=1000) as c:  # the undecided 99 is never handed out
            with pytest.raises(KafkaError, match="UNSTABLE_OFFSET_COMMIT"):
                c.committed(TopicPartition("src", 0))
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send("t", b"still-open", partition=0).get(10)

        def read(level):
            with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest",
                          isolation_level=level) as c:
                tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
                c.assign(tps)
                ends = c.end_offsets(tps)
                got = []
                while any(c.position(tp) < ends[tp] for tp in tps):
                    got += [r.value for recs in c.poll(500).values() for r in recs]
                return sorted(got), ends
        committed, ends = read("read_committed")
        assert committed == [b"committed-%d" % i for i in range(4)]
        everything, raw_ends = read("read_uncommitted")
        assert b"still-open" in everything and b"aborted-0" in everything
        assert ends[TopicPartition("t", 0)] < raw_ends[TopicPartition("t", 0)], \
            "the open transaction holds the last stable offset back"
        with Consumer(bootstrap_servers=cluster.bootstrap, group_id="txn-group") as c:
            assert c.committed(TopicPartition("src", 0)) == 42, "the aborted 99 never lands"
        zombie = producer
        producer = Producer(cluster.bootstrap, transactional_id="tx")
        producer.init_transactions()  # fences the zombie and aborts its open transaction
        assert b"still-open" not in read("read_committed")[0]
        with pytest.raises(KafkaError, match="PRODUCER_FENCED"):
            zombie.send("t", b"zombie", partition=1)
    finally:
        producer.close()
        if zombie is not None:
            zombie.close()

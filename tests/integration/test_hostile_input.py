"""Hostile and malformed input against a real cluster: every bad request is answered
with Kafka's error, costs the broker little, and never starves the brokers' own
heartbeats and replication. The flood keeps up the issue's 7,500 messages a second, as
its sender manages: the broker reads what it can, the rest waits in ZeroMQ's queues."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from mini_kafka.protocol import ApiKey, Kind, Message, encode
from mini_kafka.transport import call
from tests.helpers import wait_until
from tests.integration.flood import raw_request

ROOT = Path(__file__).resolve().parents[2]
FLOOD_RATE_PER_S = 7_500  # the flood: on main, the broker was fenced within 24 s
FLOOD_S = 20.0


def read_back(cluster, topic: str, offset: int) -> bytes:
    tp = TopicPartition(topic, 0)
    with Consumer(bootstrap_servers=cluster.bootstrap) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        return consumer.poll(10_000)[tp][0].value


def test_a_garbage_flood_does_not_get_the_broker_fenced(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("steady", 1, 2)])
    target = cluster.config.node("broker-1")
    epoch = cluster.metadata().brokers[1]["epoch"]
    wait_until(lambda: sorted(cluster.metadata().partition("steady", 0)["isr"]) == [1, 2],
               what="a full ISR")
    flood = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.flood", target.endpoint,
         str(FLOOD_RATE_PER_S), str(FLOOD_S)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    seen = []
    try:
        while flood.poll() is None:
            image = cluster.metadata()
            me = image.brokers[1]
            seen.append((me["epoch"], me["fenced"], len(image.partition("steady", 0)["isr"])))
            time.sleep(0.1)
        sent = int(flood.stdout.read())
    finally:
        flood.kill()
        flood.wait()
    assert sent >= FLOOD_RATE_PER_S * FLOOD_S / 2, f"the flood sent only {sent} messages"
    # Never fenced, and replication kept up: the ISR stayed whole.
    assert seen and all(s == (epoch, False, 2) for s in seen), \
        f"broker-1 (epoch, fenced, ISR size) went from {(epoch, False, 2)} through " \
        f"{sorted(set(seen))}"
    # It still serves: a record written through it comes back.
    with Producer(cluster.bootstrap, acks="all") as producer:
        offset = producer.send("steady", b"after the flood", partition=0).get(20).offset
    assert read_back(cluster, "steady", offset) == b"after the flood"
    # The flood is counted, not written out line by line.
    info = next(s.info for s in cluster.status() if s.name == "broker-1")
    assert info["log_lines_suppressed"].get("INVALID_REQUEST", 0) > 1_000, info
    log = (cluster.data_dir / "broker-1" / "broker-1.log").read_text()
    assert log.count("\n") < 1_000, f"{log.count(chr(10))} log lines for a flood of {sent}"


@pytest.fixture(scope="module")
def one_broker(tmp_path_factory):
    from launcher import Cluster
    from launcher.pytest_plugin import test_cluster_config

    cluster = Cluster(test_cluster_config(tmp_path_factory.mktemp("hostile"), 1, 1))
    with cluster:
        with Admin(cluster.bootstrap) as admin:
            admin.create_topics([NewTopic("data", 1, 1)])
        with Producer(cluster.bootstrap, acks="all") as producer:
            producer.send("data", b"x" * 1000, partition=0).get(20)
        yield cluster


def test_a_message_past_the_size_bound_in_many_frames_is_too_large(one_broker):
    endpoint = one_broker.config.node("broker-1").endpoint
    bound = one_broker.config.limits.message_bytes_max
    frames = encode(Message(Kind.REQUEST, ApiKey.PRODUCE, 7, "big", {"acks": 1}))
    frames += [b"x" * (bound // 2)] * 3  # each frame is within the bound, together not
    reply = raw_request(endpoint, frames)
    assert (reply.request_id, reply.error) == (7, "MESSAGE_TOO_LARGE")
    assert f"at most {bound}" in reply.body["message"]


def test_deeply_nested_json_gets_invalid_request(one_broker):
    endpoint = one_broker.config.node("broker-1").endpoint
    header = encode(Message(Kind.REQUEST, ApiKey.METADATA, 8, "deep"))[0]
    reply = raw_request(endpoint, [header, b'{"topics": ' + b"[" * 100_000 + b"}"])
    assert (reply.request_id, reply.error) == (8, "INVALID_REQUEST")
    assert "nests deeper than" in reply.body["message"]


def fetch(endpoint, **sizes):
    body = {"max_wait_ms": 0, **{k: v for k, v in sizes.items() if k != "partition_max_bytes"},
            "partitions": [{"topic": "data", "partition": 0, "fetch_offset": 0,
                            **({"partition_max_bytes": sizes["partition_max_bytes"]}
                               if "partition_max_bytes" in sizes else {})}]}
    return call(endpoint, ApiKey.FETCH, body, timeout_ms=10_000)


def test_fetch_sizes_and_waits_are_cut_to_their_bounds(one_broker):
    endpoint = one_broker.config.node("broker-1").endpoint
    huge = fetch(endpoint, max_bytes=10**12, partition_max_bytes=10**12, min_bytes=10**12,
                 max_wait_ms=10**9)
    assert huge.error == "NONE" and huge.body["partitions"][0]["error"] == "NONE"
    assert len(huge.payloads[0]) > 1000  # the record came back: asked for too much, got it


@pytest.mark.parametrize("sizes, problem", [
    ({"max_bytes": -1}, "field 'max_bytes' must not be negative"),
    ({"partition_max_bytes": -5}, "field 'partition_max_bytes' must not be negative"),
    ({"max_wait_ms": "soon"}, "field 'max_wait_ms' must be int"),
    ({"min_bytes": 1.5}, "field 'min_bytes' must be int"),
])
def test_fetch_numbers_that_are_not_sizes_are_invalid_requests(one_broker, sizes, problem):
    reply = fetch(one_broker.config.node("broker-1").endpoint, **sizes)
    assert reply.error == "INVALID_REQUEST" and problem in reply.body["message"]

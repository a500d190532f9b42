"""The trust model against a real cluster: a local process without the cluster's keys
can use the client APIs and nothing else — it cannot commit a controller write, move
Raft, set fault rules or fetch as a replica, on either endpoint of any node."""

from __future__ import annotations

import asyncio
import json
import stat
import time

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from launcher.control import call_node
from mini_kafka.client import Admin, NewTopic
from mini_kafka.protocol import ApiKey, Kind, Message, decode, encode
from mini_kafka.transport import call
from tests.helpers import wait_until

FORGED_TOPIC = {"op": "create_topic", "name": "forged", "partitions": 1,
                "replication_factor": 1}


def keyless_handshake(endpoint: str, api: int, body: dict) -> list[int]:
    """What a process without the keys gets from an authenticated endpoint: the verdict
    on its handshake (plain ZeroMQ, then CURVE with a key of its own), after trying to
    send `api` each time."""

    async def attempt(curve: bool) -> int:
        sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if curve:  # even knowing the server's public key would not help: use a made-up one
            sock.curve_serverkey = zmq.curve_keypair()[0]
            sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED
                                          | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                          | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        try:
            sock.connect(endpoint)
            await sock.send_multipart(encode(Message(Kind.REQUEST, api, 1, "launcher", body)))
            event = await asyncio.wait_for(monitor.recv_multipart(), 10)
            return parse_monitor_message(event)["event"]
        finally:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)

    return [asyncio.run(attempt(curve)) for curve in (False, True)]


def refused(verdicts: list[int]) -> bool:
    return zmq.EVENT_HANDSHAKE_SUCCEEDED not in verdicts


def test_keys_are_made_at_first_start_owner_only_and_kept_by_a_restart(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    keys_dir = cluster.config.keys_dir
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    secrets = sorted(p.name for p in keys_dir.glob("*.key_secret"))
    assert secrets == ["broker-1.key_secret", "coordinator-1.key_secret",
                       "launcher.key_secret"]
    assert all(stat.S_IMODE((keys_dir / s).stat().st_mode) == 0o600 for s in secrets)
    before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}
    recorded = json.loads(cluster.state_file.read_text())
    assert recorded["nodes"]["broker-1"]["cluster_endpoint"] == \
        cluster.config.node("broker-1").cluster_endpoint
    cluster.stop()
    cluster.start()
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before
    assert all(s.state == "up" for s in cluster.status())


def test_a_process_without_the_keys_cannot_commit_a_controller_write(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    coordinator = cluster.config.node("coordinator-1")
    body = {"command": FORGED_TOPIC}
    reply = call(coordinator.endpoint, ApiKey.CONTROLLER_WRITE, body, sender="launcher")
    assert reply.error == "CLUSTER_AUTHORIZATION_FAILED"
    assert "served only on the node's authenticated endpoint" in reply.body["message"]
    assert refused(keyless_handshake(coordinator.cluster_endpoint, ApiKey.CONTROLLER_WRITE,
                                     body))
    # The same write from the launcher, a member, commits: the forged one never did.
    cluster.write_metadata({**FORGED_TOPIC, "name": "genuine"})
    topics = cluster.metadata(linearizable=True).topics
    assert "genuine" in topics and "forged" not in topics


def test_forged_raft_messages_change_nothing(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=1)
    leader = wait_until(cluster.controller, what="a controller")
    before = {s.name: s.info["term"] for s in cluster.status() if s.role == "coordinator"}
    forged_term = max(before.values()) + 100

    async def forge(endpoint: str, dst: int) -> Message:
        """What deposed the controller before: a 'leader' of a far newer term. Then a
        request on the same connection, answered after the forged messages were served."""
        sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        try:
            for kind, extra in (("vote", {"last_index": 10**6, "last_term": forged_term}),
                                ("append", {"commit": 10**6})):
                raft = {"type": kind, "src": 2 if dst != 2 else 3, "dst": dst,
                        "term": forged_term, **extra}
                await sock.send_multipart(encode(Message(Kind.ONEWAY, ApiKey.RAFT, 0,
                                                         "coordinator-2", raft)))
            await sock.send_multipart(encode(Message(Kind.REQUEST, ApiKey.STATUS, 9,
                                                     "coordinator-2")))
            return decode(await asyncio.wait_for(sock.recv_multipart(), 10))
        finally:
            sock.close(0)

    for spec in (s for s in cluster.config.nodes if s.role == "coordinator"):
        reply = asyncio.run(forge(spec.endpoint, spec.id))
        assert reply.error == "CLUSTER_AUTHORIZATION_FAILED"
        assert refused(keyless_handshake(spec.cluster_endpoint, ApiKey.RAFT, {
            "type": "vote", "src": 2, "dst": spec.id, "term": forged_term}))
    after = {s.name: s.info["term"] for s in cluster.status() if s.role == "coordinator"}
    assert max(after.values()) < forged_term and cluster.controller() == leader, after


def test_a_process_without_the_keys_cannot_set_fault_rules_or_read_status(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    broker = cluster.config.node("broker-1")
    cut = {"rules": [{"peer": "*", "drop_rate": 1.0}]}
    for api, body in ((ApiKey.SET_FAULTS, cut), (ApiKey.STATUS, {})):
        assert call(broker.endpoint, api, body).error == "CLUSTER_AUTHORIZATION_FAILED"
        assert refused(keyless_handshake(broker.cluster_endpoint, api, body))
    status = call_node(cluster.config, "broker-1", ApiKey.STATUS, timeout_ms=2000)
    assert status.body["faults"] == []


def test_a_process_posing_as_the_followers_cannot_keep_the_isr_full(
        mini_kafka_cluster_factory):
    """The followers are alive but cut off from their leader; a local process fetching
    as both of them at the log end once kept them in the ISR, so acks=all records were
    acknowledged by the leader alone (and lost with it)."""
    # A follower whose fetch was waiting at the leader when the cut came counts as
    # caught up until that fetch is answered: at an idle partition, up to
    # replica_fetch_wait_max_ms (30 s by default). A short one here, so the ISR shrinks
    # within the deadline unless something (the imposter) keeps it full.
    cluster = mini_kafka_cluster_factory(
        coordinators=1, brokers=3, overrides={"timeouts": {"replica_lag_time_max_ms": 1000,
                                                           "replica_fetch_wait_max_ms": 2000}})
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("held", 1, 3)])
    part = wait_until(lambda: (p := cluster.metadata(linearizable=True).partition(
        "held", 0)) and len(p["isr"]) == 3 and p, timeout_s=20, what="a full ISR")
    leader = part["leader"]
    followers = [b for b in part["replicas"] if b != leader]
    cluster.partition([f"broker-{leader}"], [f"broker-{b}" for b in followers])
    endpoint = cluster.config.node(f"broker-{leader}").endpoint

    def pose_as_followers() -> set[str]:
        errors = set()
        for follower in followers:
            body = {"replica_id": follower, "max_wait_ms": 0, "partitions": [
                {"topic": "held", "partition": 0, "fetch_offset": 0,
                 "current_leader_epoch": part["leader_epoch"]}]}
            errors.add(call(endpoint, ApiKey.FETCH, body, sender="imposter").error)
        return errors

    deadline = time.monotonic() + 20
    isr = part["isr"]
    while len(isr) > 1 and time.monotonic() < deadline:
        assert pose_as_followers() == {"CLUSTER_AUTHORIZATION_FAILED"}
        isr = cluster.metadata(linearizable=True).partition("held", 0)["isr"]
        time.sleep(0.2)
    assert isr == [leader], f"the ISR stayed {isr} while the followers could not fetch"

"""The coordinator ensemble on real processes: failover, quorum loss, broker fencing."""

from __future__ import annotations

import time

import pytest

from mini_kafka.errors import KafkaError
from tests.helpers import wait_until


def coordinator_infos(cluster):
    return {s.name: s.info for s in cluster.status() if s.role == "coordinator" and s.info}


def test_killing_the_controller_elects_another_and_writes_resume(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=1)
    first = wait_until(cluster.controller, what="a controller")
    old_term = coordinator_infos(cluster)[first]["term"]
    before = cluster.write_metadata({"op": "init_producer_id"})["producer_id"]
    cluster.kill(first)
    second = wait_until(lambda: (c := cluster.controller()) and c != first and c,
                        timeout_s=10, what="a new controller")
    assert coordinator_infos(cluster)[second]["term"] > old_term
    after = cluster.write_metadata({"op": "init_producer_id"})["producer_id"]
    assert after > before, "the new controller continues from committed state"
    cluster.restart(first)
    wait_until(lambda: len({(i["term"], i["commit_index"])
                            for i in coordinator_infos(cluster).values()}) == 1,
               what="the restarted coordinator to converge")


def test_brokers_keep_their_sessions_when_the_controller_dies(mini_kafka_cluster_factory):
    # Short sessions: the failover is watched for three of them, not for half a minute.
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=3, overrides={
        "timeouts": {"broker_session_timeout_ms": 3_000, "broker_heartbeat_interval_ms": 1_000}})
    first = wait_until(cluster.controller, what="a controller")
    epochs = {b: info["epoch"] for b, info in cluster.metadata(linearizable=True).brokers.items()}
    cluster.kill(first)  # and it stays dead: brokers must find the new controller
    wait_until(lambda: (c := cluster.controller()) and c != first, timeout_s=10,
               what="a new controller")
    session_s = cluster.config.timeouts.broker_session_timeout_ms / 1000
    deadline = time.monotonic() + 3 * session_s  # observe: nobody may miss a session
    while time.monotonic() < deadline:
        brokers = cluster.metadata(linearizable=True).brokers
        fenced = [b for b, info in brokers.items() if info["fenced"]]
        assert not fenced, f"brokers {fenced} lost their session to the new controller"
        time.sleep(0.1)  # sampling the window, not waiting for a condition
    assert {b: i["epoch"] for b, i in cluster.metadata(linearizable=True).brokers.items()} \
        == epochs, "no broker had to register again"


def test_brokers_reach_the_committed_offset_after_entries_that_change_nothing(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    for _ in range(3):  # producer ids are committed entries with no metadata records
        cluster.write_metadata({"op": "init_producer_id"})
    committed = cluster.metadata(linearizable=True).offset
    wait_until(lambda: next(s.info.get("metadata_offset", -1) for s in cluster.status()
                            if s.name == "broker-1") >= committed, timeout_s=10,
               what="broker-1 at the committed metadata offset")


def test_brokers_keep_following_metadata_when_the_coordinator_they_read_from_dies(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=2)
    wait_until(cluster.controller, what="a controller")
    cluster.kill("coordinator-1")  # every broker starts out reading from the first one
    wait_until(lambda: cluster.controller() not in (None, "coordinator-1"), timeout_s=10,
               what="a controller among the survivors")
    cluster.write_metadata({"op": "init_producer_id"})
    committed = cluster.metadata(linearizable=True).offset

    def brokers_caught_up():
        offsets = [s.info.get("metadata_offset", -1) for s in cluster.status()
                   if s.role == "broker" and s.info]
        return len(offsets) == 2 and min(offsets) >= committed
    wait_until(brokers_caught_up, timeout_s=15, interval_s=0.1,
               what="both brokers reading committed metadata from another coordinator")


def test_without_a_majority_writes_stop_but_committed_reads_are_served(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=1)
    wait_until(cluster.controller, what="a controller")
    cluster.write_metadata({"op": "init_producer_id"})
    committed = cluster.metadata(linearizable=True).offset
    survivor, *victims = sorted(coordinator_infos(cluster))
    for name in victims:
        cluster.kill(name)
    with pytest.raises(KafkaError):  # no quorum: no split brain, the write cannot commit
        cluster.write_metadata({"op": "init_producer_id"}, timeout_ms=2000)
    image = cluster.metadata(node=survivor)
    assert image.offset >= committed and 1 in image.brokers
    for name in victims:
        cluster.restart(name)
    wait_until(cluster.controller, what="a controller after the majority returns")
    result = cluster.write_metadata({"op": "init_producer_id"})
    assert result["error"] == "NONE"
    wait_until(lambda: len({i["metadata_offset"] for i in coordinator_infos(cluster).values()})
               == 1, what="all coordinators at one metadata offset")


def test_a_killed_broker_is_fenced_and_its_partitions_get_leaders_from_the_isr(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=3)
    cluster.write_metadata({"op": "create_topic", "name": "orders", "partitions": 6,
                            "replication_factor": 3})
    image = cluster.metadata(linearizable=True)
    victim = image.partition("orders", 0)["leader"]
    led = [p["partition"] for p in image.topic_partitions("orders") if p["leader"] == victim]
    cluster.kill(f"broker-{victim}")

    def fenced_and_moved():
        now = cluster.metadata(linearizable=True)
        return now if now.brokers[victim]["fenced"] else None

    after = wait_until(fenced_and_moved, timeout_s=15, what=f"broker-{victim} fenced")
    for p in after.topic_partitions("orders"):
        assert victim not in p["isr"] and p["leader"] not in (victim, -1)
        if p["partition"] in led:
            assert p["leader_epoch"] == 1
    states = {s.name: s for s in cluster.status()}
    assert states[f"broker-{victim}"].state == "dead"
    for name, s in states.items():  # the live brokers learn it
        if s.role == "broker" and s.state == "up":
            wait_until(lambda n=name: {x.name: x for x in cluster.status()}[n]
                       .info["metadata_offset"] >= after.offset, what=f"{name} to learn it")

    cluster.restart(f"broker-{victim}")  # waits until it is registered and unfenced
    back = cluster.metadata(linearizable=True)
    assert not back.brokers[victim]["fenced"]
    assert back.brokers[victim]["epoch"] > image.brokers[victim]["epoch"]


def test_topic_errors_come_back_with_kafka_names(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    cluster.write_metadata({"op": "create_topic", "name": "t", "partitions": 2,
                            "replication_factor": 2})
    for command, error in [
        ({"name": "t", "partitions": 1, "replication_factor": 1}, "TOPIC_ALREADY_EXISTS"),
        ({"name": "u", "partitions": 1, "replication_factor": 3}, "INVALID_REPLICATION_FACTOR"),
        ({"name": "u", "partitions": 0, "replication_factor": 1}, "INVALID_PARTITIONS"),
        ({"name": "u/v", "partitions": 1, "replication_factor": 1}, "INVALID_TOPIC_EXCEPTION"),
        ({"name": "u", "partitions": "many", "replication_factor": 1}, "INVALID_REQUEST"),
    ]:
        with pytest.raises(KafkaError) as info:
            cluster.write_metadata({"op": "create_topic", **command})
        assert info.value.error.name == error


def test_a_coordinator_that_missed_compacted_entries_catches_up_by_snapshot(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(
        coordinators=3, brokers=1, overrides={"limits": {"raft_snapshot_interval_entries": 5}})
    leader = wait_until(cluster.controller, what="a controller")
    absent = next(n for n in ("coordinator-1", "coordinator-2", "coordinator-3") if n != leader)
    cluster.kill(absent)
    ids = [cluster.write_metadata({"op": "init_producer_id"})["producer_id"] for _ in range(20)]
    assert (cluster.data_dir / leader / "raft" / "snapshot").exists(), "the leader compacted"
    cluster.restart(absent)
    expected = cluster.metadata(linearizable=True)
    wait_until(lambda: cluster.metadata(node=absent).offset >= expected.offset,
               what=f"{absent} to catch up")
    log = (cluster.data_dir / absent / f"{absent}.log").read_text()
    assert "installed snapshot" in log, "the entries it missed were compacted away"
    assert cluster.metadata(node=absent).brokers == expected.brokers
    # Everyone restarts from snapshot + log and still continues the producer-id sequence.
    for name in ("coordinator-1", "coordinator-2", "coordinator-3"):
        cluster.restart(name)
    wait_until(cluster.controller, what="a controller after restarting everyone")
    assert cluster.write_metadata({"op": "init_producer_id"})["producer_id"] == max(ids) + 1


def test_committed_metadata_is_read_from_whichever_coordinator_is_up(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=1)
    cluster.kill("coordinator-1")  # the first one a reader would ask
    assert 1 in cluster.metadata().brokers


def test_a_broker_whose_metadata_reader_is_paused_reads_from_another(
        mini_kafka_cluster_factory):
    """Its long poll would wait a minute on the paused coordinator; the heartbeat shows
    the broker behind the controller, and it moves on to a coordinator that follows."""
    cluster = mini_kafka_cluster_factory(
        coordinators=3, brokers=2,
        overrides={"timeouts": {"metadata_poll_max_wait_ms": 60_000}})
    # Broker b follows the coordinator its id picks, endpoint b % 3 (coordinator/client.py):
    # a follower is paused (a paused controller is noticed by the heartbeats themselves).
    controller = cluster.controller()
    broker = next(b for b in (1, 2) if f"coordinator-{b % 3 + 1}" != controller)
    reader = f"coordinator-{broker % 3 + 1}"
    cluster.pause(reader)
    try:
        cluster.write_metadata({"op": "create_topic", "name": "news", "partitions": 1,
                                "replication_factor": 2})
        wanted = cluster.metadata(linearizable=True).offset

        def broker_offset():
            [status] = [s for s in cluster.status() if s.name == f"broker-{broker}"]
            return status.info.get("metadata_offset", -1)

        wait_until(lambda: broker_offset() >= wanted, timeout_s=20,
                   what=f"broker-{broker} to read past its paused {reader}")
    finally:
        cluster.resume(reader)


def test_a_write_answers_with_the_metadata_offset_that_holds_it(mini_kafka_cluster_factory):
    """What a broker answering a CreateTopics reads its own change from (no read-index
    round): the offset the controller had applied the write at."""
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=1)
    controller = wait_until(cluster.controller, what="a controller")
    result = cluster.write_metadata({"op": "create_topic", "name": "written", "partitions": 1,
                                     "replication_factor": 1})
    at = result["metadata_offset"]
    image = cluster.metadata(node=controller)
    assert image.offset >= at and "written" in image.topics
    assert cluster.write_metadata({"op": "init_producer_id"})["metadata_offset"] > at

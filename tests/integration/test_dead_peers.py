"""A process that dies is noticed when its connections drop, not when its silence has
lasted a timeout; a process that is paused or cut off is still judged by its silence.

The timeouts are set long, so that waiting one out cannot pass for noticing a death:
these tests tell the two apart, they do not time anything (perf failover does).
"""

from __future__ import annotations

import time

from tests.helpers import wait_until

SESSION_MS = 6_000
ELECTION_MS = 3_000
HEARTBEAT_MS = 500  # well inside SESSION_MS, so only the session decides


def broker_info(cluster, broker_id: int) -> dict:
    return cluster.metadata(linearizable=True).brokers[broker_id]


def never_fenced_for(cluster, broker_id: int, seconds: float) -> None:
    """Sample the metadata for `seconds`: a drop would fence within milliseconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not broker_info(cluster, broker_id)["fenced"], \
            f"broker-{broker_id} fenced before its session ran out"
        time.sleep(0.05)  # sampling the window, not waiting for a condition


def test_a_killed_broker_is_fenced_at_once_a_paused_or_cut_off_one_at_its_session(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=3, overrides={
        "timeouts": {"broker_session_timeout_ms": SESSION_MS,
                     "broker_heartbeat_interval_ms": HEARTBEAT_MS}})
    cluster.write_metadata({"op": "create_topic", "name": "orders", "partitions": 6,
                            "replication_factor": 3})
    image = cluster.metadata(linearizable=True)
    victim = image.partition("orders", 0)["leader"]
    led = [p["partition"] for p in image.topic_partitions("orders") if p["leader"] == victim]

    killed_at = time.monotonic()
    cluster.kill(f"broker-{victim}")
    after = wait_until(lambda: (m := cluster.metadata(linearizable=True))
                       .brokers[victim]["fenced"] and m, timeout_s=SESSION_MS / 2000,
                       what=f"broker-{victim} fenced well before its {SESSION_MS} ms session")
    assert time.monotonic() - killed_at < SESSION_MS / 2000
    for p in after.topic_partitions("orders"):
        assert victim not in p["isr"] and p["leader"] not in (victim, -1)
        if p["partition"] in led:
            assert p["leader_epoch"] == 1

    # The next incarnation, on the same port: the old connection's drop is not its own.
    cluster.start_node(f"broker-{victim}")  # waits until registered and unfenced
    back = broker_info(cluster, victim)
    assert not back["fenced"] and back["epoch"] > image.brokers[victim]["epoch"]
    never_fenced_for(cluster, victim, 1.0)

    # Paused: its connections stay open, so only the session can fence it.
    other = next(b for b in sorted(image.brokers) if b != victim)
    paused_at = time.monotonic()
    cluster.pause(f"broker-{other}")
    try:
        never_fenced_for(cluster, other, SESSION_MS / 2000)
        wait_until(lambda: broker_info(cluster, other)["fenced"], timeout_s=3 * SESSION_MS / 1000,
                   what=f"broker-{other} fenced by its session")
        # The session runs from its last heartbeat, up to one interval before the pause.
        assert time.monotonic() - paused_at >= (SESSION_MS - HEARTBEAT_MS) / 1000
    finally:
        cluster.resume(f"broker-{other}")
    wait_until(lambda: not broker_info(cluster, other)["fenced"], timeout_s=15,
               what=f"broker-{other} unfenced after it resumed")

    # Cut off from everyone by fault rules: silent too, with its connections up.
    cluster.partition([f"broker-{other}"])
    try:
        never_fenced_for(cluster, other, 1.0)
    finally:
        cluster.heal()


def test_a_killed_controller_is_replaced_without_waiting_out_the_election_timeout(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=1, overrides={
        "timeouts": {"raft_election_timeout_ms": ELECTION_MS}})
    first = wait_until(cluster.controller, timeout_s=20, what="a controller")
    before = cluster.write_metadata({"op": "init_producer_id"})["producer_id"]
    killed_at = time.monotonic()
    cluster.kill(first)
    # Without noticing the drop, the followers would wait ELECTION_MS at the least.
    second = wait_until(lambda: (c := cluster.controller()) and c != first and c,
                        timeout_s=ELECTION_MS / 2000,
                        what=f"a new controller well within {ELECTION_MS} ms")
    assert time.monotonic() - killed_at < ELECTION_MS / 1000
    after = cluster.write_metadata({"op": "init_producer_id"})["producer_id"]
    assert after > before and second != first


def test_a_controller_that_could_not_listen_does_not_fence_the_brokers_it_missed(
        mini_kafka_cluster_factory):
    """Its own stall (here a pause; in a 5 + 100 run, a Raft fsync behind a busy disk)
    left their heartbeats unread: waking, it must not count that time against them.
    Short sessions: the stall and the watch are measured in sessions, not seconds."""
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=3, overrides={
        "timeouts": {"broker_session_timeout_ms": 3_000, "broker_heartbeat_interval_ms": 1_000}})
    session_ms = cluster.config.timeouts.broker_session_timeout_ms
    assert not any(b["fenced"] for b in broker_info_all(cluster))
    cluster.pause("coordinator-1")
    time.sleep(2 * session_ms / 1000)  # the stall being simulated, not a wait
    cluster.resume("coordinator-1")
    deadline = time.monotonic() + session_ms / 1000  # a wrong fence shows within this
    while time.monotonic() < deadline:
        fenced = [b["id"] for b in broker_info_all(cluster) if b["fenced"]]
        assert not fenced, f"broker(s) {fenced} fenced for the controller's own stall"
        time.sleep(0.05)  # sampling the window, not waiting for a condition


def broker_info_all(cluster) -> list[dict]:
    return list(cluster.metadata(linearizable=True).brokers.values())

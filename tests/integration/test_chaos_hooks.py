"""Chaos hooks on a live cluster: by role, network cuts, delay, loss, heal."""

import pytest

from launcher.chaos import ChaosError, rules_of
from mini_kafka.client import Admin, NewTopic
from tests.helpers import wait_until


def test_cutting_off_the_controller_moves_control_and_heal_restores_the_links(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=3, brokers=2)
    old = wait_until(cluster.controller, what="a controller")
    assert cluster.resolve("controller") == old
    cut = cluster.partition([old])  # the old controller against everyone else
    assert (old, "broker-1") in cut and ("coordinator-1" if old != "coordinator-1"
                                         else "coordinator-2", old) in cut
    # Check-quorum: the isolated leader steps down; the majority elects another.
    wait_until(lambda: cluster.controller() not in (None, old), timeout_s=15,
               what="a new controller on the majority side")
    assert cluster.write_metadata({"op": "init_producer_id"})["error"] == "NONE"
    healed = cluster.heal()
    assert set(healed) == {s.name for s in cluster.config.nodes}
    assert all(rules_of(cluster, n) == [] for n in healed)
    wait_until(lambda: len({s.info.get("term") for s in cluster.status()
                            if s.role == "coordinator"}) == 1, what="terms to converge")


def test_roles_resolve_and_faults_compose(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 1, 2)])
    leader = cluster.resolve("leader-of t/0")
    assert leader == f"broker-{cluster.metadata().partition('t', 0)['leader']}"
    cluster.delay(leader, 5, jitter_ms=2)
    cluster.loss(leader, 0.01)
    rules = rules_of(cluster, leader)
    assert [r["delay_ms"] for r in rules] == [5, 0] and rules[1]["drop_rate"] == 0.01
    cluster.partition(["broker-1"], one_way_from=["broker-1"])
    assert {"peer": "broker-2", "direction": "out", "drop_rate": 1.0, "delay_ms": 0,
            "jitter_ms": 0} in rules_of(cluster, "broker-1")
    assert not any(r["direction"] == "out" for r in rules_of(cluster, "broker-2")), \
        "one-way: broker-2 may still send"
    cluster.kill("broker-2")
    cluster.partition(["broker-1"])  # a dead node is skipped, not an error
    with pytest.raises(ChaosError, match="unknown node 'broker-9'"):
        cluster.resolve("broker-9")
    with pytest.raises(ChaosError, match="no partition"):
        cluster.resolve("leader-of t/7")
    with pytest.raises(ChaosError, match="loss rate 2"):
        cluster.loss("broker-1", 2)

"""`cluster status`'s summary line and filters, over node statuses and the metadata."""

from __future__ import annotations

from launcher.cluster import NodeStatus
from mini_kafka.cli.cluster_views import select, summary
from mini_kafka.metadata import MetadataImage


def node(name, state="up", **info):
    role = name.rsplit("-", 1)[0]
    return NodeStatus(name, role, 100, f"tcp://127.0.0.1:{len(name)}", state, info)


def image(fenced=(), partitions=()):
    m = MetadataImage()
    m.brokers = {b: {"id": b, "fenced": b in fenced} for b in range(1, 9)}
    m.partitions = {f"t/{i}": {"topic": "t", "partition": i, "leader": leader,
                               "replicas": [1, 2, 3], "isr": isr}
                    for i, (leader, isr) in enumerate(partitions)}
    return m


STATUSES = [node("coordinator-1", raft_role="follower", term=4),
            node("coordinator-2", raft_role="leader", term=4),
            node("coordinator-3", "dead"),
            *[node(f"broker-{b}") for b in range(1, 7)],
            node("broker-7", "dead"), node("broker-8", "unresponsive"),
            node("broker-9")]  # not registered: it never reached the controller


def test_the_summary_counts_nodes_by_condition_and_partitions_in_trouble():
    m = image(fenced=(3, 7), partitions=[(1, [1, 2, 3]), (2, [2, 3]), (-1, [3])])
    assert summary(STATUSES, m) == (
        "3 coordinators: 2 up, 1 dead (coordinator-3), controller coordinator-2 (term 4); "
        "9 brokers: 5 up, 1 dead (broker-7), 1 fenced (broker-3), 1 unregistered "
        "(broker-9), 1 unresponsive (broker-8); 3 partitions: 2 under-replicated, 1 offline")


def test_many_brokers_down_are_counted_past_a_few_names():
    statuses = [node(f"broker-{b}", "dead" if b > 2 else "up") for b in range(1, 9)]
    assert summary(statuses, image()) == (
        "8 brokers: 2 up, 6 dead (broker-3, broker-4, broker-5, broker-6, broker-7, ... 1 "
        "more); 0 partitions: 0 under-replicated, 0 offline")


def test_without_metadata_or_a_controller_it_says_so():
    statuses = [node("coordinator-1", raft_role="candidate", term=9), node("broker-1")]
    assert summary(statuses, None) == ("1 coordinator: 1 up, no controller; 1 broker: 1 up; "
                                       "metadata unavailable (no coordinator answered)")


def test_filters_keep_one_role_or_the_nodes_not_serving():
    brokers = image(fenced=(3, 7)).brokers
    names = [s.name for s in select(STATUSES, brokers, down=True)]
    assert names == ["coordinator-3", "broker-3", "broker-7", "broker-8", "broker-9"]
    assert [s.name for s in select(STATUSES, brokers, role="coordinator")] == \
        ["coordinator-1", "coordinator-2", "coordinator-3"]
    assert [s.name for s in select(STATUSES, brokers, role="broker", down=True)] == \
        ["broker-3", "broker-7", "broker-8", "broker-9"]

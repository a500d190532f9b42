"""What brokers report about their replicas, as the controller acts on it: offline
replicas (storage errors) leave their ISR and cannot lead until back; a damaged replica
(its log lost data when opened) is no longer in sync, and as the last of its ISR it is
replaced by the eligible leader replicas, which hold every acks=all record."""

from mini_kafka.metadata import NO_LEADER
from tests.unit.test_metadata_state import Harness


def setup(min_isr=2):
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 3,
          "configs": {"min.insync.replicas": str(min_isr)}})
    return h


def report(h, b, offline=(), damaged=()):
    return h.do({"op": "report_replicas", "broker_id": b, "broker_epoch": h.epochs[b],
                 "offline_replicas": list(offline), "damaged_replicas": list(damaged)})


def restart(h, b, offline=(), damaged=()):
    """A new incarnation registers, then unfences with what it found on its disk."""
    h.epochs[b] = h.do({"op": "register_broker", "broker_id": b, "endpoint": f"tcp://h:{b}",
                        "incarnation": f"again-{h.offset}"})["broker_epoch"]
    return h.do({"op": "unfence_broker", "broker_id": b, "broker_epoch": h.epochs[b],
                 "offline_replicas": list(offline), "damaged_replicas": list(damaged)})


def test_an_offline_replica_hands_over_leadership_and_leaves_the_isr():
    h = setup()
    leader = h.p("t", 0)["leader"]
    assert report(h, leader, offline=["t/0"])["error"] == "NONE"
    p = h.p("t", 0)
    assert p["leader"] not in (leader, NO_LEADER) and leader not in p["isr"]
    assert h.state.image.brokers[leader]["offline"] == ["t/0"]
    refused = h.do({"op": "alter_partition", "topic": "t", "partition": 0,
                    "leader": p["leader"], "leader_epoch": p["leader_epoch"],
                    "partition_epoch": p["partition_epoch"], "isr": sorted(p["isr"] + [leader])})
    assert refused["error"] == "INELIGIBLE_REPLICA", "it cannot rejoin while offline"
    assert report(h, leader)["error"] == "NONE"
    assert h.state.image.brokers[leader]["offline"] == []
    p = h.p("t", 0)
    joined = h.do({"op": "alter_partition", "topic": "t", "partition": 0,
                   "leader": p["leader"], "leader_epoch": p["leader_epoch"],
                   "partition_epoch": p["partition_epoch"], "isr": sorted(p["isr"] + [leader])})
    assert joined["error"] == "NONE"


def test_the_last_in_sync_replica_offline_leaves_the_partition_leaderless_until_back():
    h = setup(min_isr=1)
    order = h.p("t", 0)["replicas"]
    h.fence(order[1])
    h.fence(order[2])
    assert h.p("t", 0)["isr"] == [order[0]]
    report(h, order[0], offline=["t/0"])
    assert (h.p("t", 0)["leader"], h.p("t", 0)["isr"]) == (NO_LEADER, [order[0]])
    for b in order[1:]:  # the others come back; none is in sync, so none may lead
        h.unfence(b)
    assert h.p("t", 0)["leader"] == NO_LEADER
    report(h, order[0])
    assert h.p("t", 0)["leader"] == order[0]


def test_replicas_that_leave_an_isr_below_min_insync_are_eligible_leaders():
    h = setup(min_isr=2)
    first, second, last = h.p("t", 0)["replicas"]
    h.fence(first)
    assert h.p("t", 0)["elr"] == [], "ISR of 2 still takes acks=all writes"
    h.fence(second)
    assert h.p("t", 0)["isr"] == [last] and h.p("t", 0)["elr"] == [second]
    h.unfence(second)
    p = h.p("t", 0)
    h.do({"op": "alter_partition", "topic": "t", "partition": 0, "leader": p["leader"],
          "leader_epoch": p["leader_epoch"], "partition_epoch": p["partition_epoch"],
          "isr": sorted([last, second])})
    assert h.p("t", 0)["elr"] == [], "whole enough again: writes go on without them"


def test_down_and_up_with_the_last_replica_damaged_elects_an_eligible_one():
    h = setup(min_isr=2)
    first, second, last = h.p("t", 0)["replicas"]
    for b in (first, second, last):  # cluster down, in this order
        h.fence(b)
    assert h.p("t", 0)["isr"] == [last] and h.p("t", 0)["elr"] == [second]
    restart(h, last, damaged=["t/0"])  # it lost data to corruption
    p = h.p("t", 0)
    assert (p["leader"], p["isr"], p["elr"]) == (NO_LEADER, [second], [])
    assert h.state.image.brokers[last]["damaged"] == ["t/0"]
    restart(h, first)
    assert h.p("t", 0)["leader"] == NO_LEADER, "first was not in sync when it left"
    restart(h, second)
    assert h.p("t", 0)["leader"] == second
    before = h.p("t", 0)
    restart(h, last, damaged=["t/0"])  # already recorded for the old incarnation
    assert h.p("t", 0)["isr"] == before["isr"]


def test_a_damaged_last_replica_with_nobody_eligible_stays_the_best_copy():
    h = setup(min_isr=1)
    for b in h.p("t", 0)["replicas"]:
        h.fence(b)
    last = h.p("t", 0)["isr"][0]
    assert h.p("t", 0)["elr"] == []
    restart(h, last, damaged=["t/0"])
    assert (h.p("t", 0)["leader"], h.p("t", 0)["isr"]) == (last, [last])


def test_a_damaged_replica_in_a_live_isr_just_leaves_it():
    h = setup()
    leader = h.p("t", 0)["leader"]
    follower = [b for b in h.p("t", 0)["isr"] if b != leader][0]
    report(h, follower, damaged=["t/0"])
    p = h.p("t", 0)
    assert p["leader"] == leader and follower not in p["isr"]


def test_reports_naming_unknown_partitions_change_nothing_and_bad_ones_are_refused():
    h = setup()
    offset = h.state.offset
    assert report(h, 1, offline=["nope/0"])["error"] == "NONE"
    assert h.state.changes_after(offset) == []
    bad = h.do({"op": "report_replicas", "broker_id": 1, "broker_epoch": h.epochs[1],
                "offline_replicas": "t/0"})
    assert bad["error"] == "INVALID_REQUEST"


def test_each_topic_has_its_own_id_even_under_the_same_name():
    h = setup()
    first = h.state.image.topics["t"]["topic_id"]
    h.do({"op": "delete_topic", "name": "t"})
    h.do({"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 1})
    assert h.state.image.topics["t"]["topic_id"] != first

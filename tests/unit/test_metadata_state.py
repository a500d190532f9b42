"""The metadata state machine: placement, elections, fencing, ISR changes, snapshots."""

from mini_kafka.config import config_from_dict
from mini_kafka.coordinator.history import decode_changes
from mini_kafka.coordinator.state import MetadataState
from mini_kafka.metadata import NO_LEADER, MetadataImage

CONFIG = config_from_dict({"brokers": {"count": 5}})


class Harness:
    def __init__(self, config=CONFIG, brokers=(1, 2, 3)):
        self.state = MetadataState(config, history_entries_max=50)
        self.offset = 0
        self.epochs = {}
        for b in brokers:
            self.epochs[b] = self.do({"op": "register_broker", "broker_id": b,
                                      "endpoint": f"tcp://h:{b}", "incarnation": f"i{b}"}
                                     )["broker_epoch"]
            self.do({"op": "unfence_broker", "broker_id": b, "broker_epoch": self.epochs[b]})

    def do(self, command):
        self.offset += 1
        return self.state.apply(self.offset, command)

    def p(self, topic, partition):
        return self.state.image.partition(topic, partition)

    def fence(self, b):
        return self.do({"op": "fence_broker", "broker_id": b, "broker_epoch": self.epochs[b]})

    def unfence(self, b):
        return self.do({"op": "unfence_broker", "broker_id": b, "broker_epoch": self.epochs[b]})


def test_create_topic_spreads_leaders_and_replicas_evenly():
    h = Harness()
    result = h.do({"op": "create_topic", "name": "orders", "partitions": 6,
                   "replication_factor": 3})
    assert result["error"] == "NONE"
    parts = h.state.image.topic_partitions("orders")
    assert [p["leader"] for p in parts].count(1) == 2  # 6 leaders over 3 brokers
    assert {p["leader"] for p in parts} == {1, 2, 3}
    for p in parts:
        assert p["leader"] == p["replicas"][0] and sorted(p["isr"]) == [1, 2, 3]
        assert (p["leader_epoch"], p["partition_epoch"]) == (0, 0)


def test_create_topic_refusals_name_the_problem():
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 1})
    cases = [
        ({"name": "t", "partitions": 1, "replication_factor": 1}, "TOPIC_ALREADY_EXISTS"),
        ({"name": "bad name!", "partitions": 1, "replication_factor": 1},
         "INVALID_TOPIC_EXCEPTION"),
        ({"name": "..", "partitions": 1, "replication_factor": 1}, "INVALID_TOPIC_EXCEPTION"),
        ({"name": "x", "partitions": 0, "replication_factor": 1}, "INVALID_PARTITIONS"),
        ({"name": "x", "partitions": 1, "replication_factor": 4}, "INVALID_REPLICATION_FACTOR"),
        ({"name": "x", "partitions": 1, "replication_factor": 1,
          "configs": {"retention.ms": "soon"}}, "INVALID_CONFIG"),
        ({"name": "x", "partitions": 1, "replication_factor": 1,
          "configs": {"retention.mss": "1"}}, "INVALID_CONFIG"),
    ]
    for command, error in cases:
        assert h.do({"op": "create_topic", **command})["error"] == error, command
    assert h.do({"op": "delete_topic", "name": "nope"})["error"] == "UNKNOWN_TOPIC_OR_PARTITION"
    assert h.do({"op": "bogus"})["error"] == "INVALID_REQUEST"


def test_min_insync_replicas_above_the_replication_factor_is_refused_naming_both():
    """Such a topic could never acknowledge an acks=all write (a producer would retry
    NOT_ENOUGH_REPLICAS until its delivery timeout): refused before it is proposed,
    whether the value is the topic's own or the cluster default it would inherit."""
    h = Harness()
    h.do({"op": "create_topic", "name": "taken", "partitions": 1, "replication_factor": 3})
    check = h.state.check_proposal

    def create(rf, name="t", **configs):
        return {"op": "create_topic", "name": name, "partitions": 1,
                "replication_factor": rf, "configs": configs}

    own = check(create(2, **{"min.insync.replicas": "3"}))
    assert own["error"] == "INVALID_CONFIG"
    assert "min.insync.replicas 3 exceeds the replication factor 2" in own["message"]
    inherited = check(create(1))  # CONFIG's default min.insync is 2
    assert inherited["error"] == "INVALID_CONFIG"
    assert "min.insync.replicas 2 (the cluster default, topics.min_insync_replicas) " \
        "exceeds the replication factor 1" in inherited["message"]
    assert "min.insync.replicas=1" in inherited["message"]
    for fine in (create(2), create(3, **{"min.insync.replicas": "3"}),
                 create(1, **{"min.insync.replicas": "1"}), {"op": "delete_topic", "name": "t"}):
        assert check(fine) is None, fine
    # Other problems are left to apply, which names them as before.
    for other in (create(1, **{"min.insync.replicas": "many"}), create(0), create(1, "taken")):
        assert check(other) is None, other
    assert h.do(create(1, "taken"))["error"] == "TOPIC_ALREADY_EXISTS"
    # An entry committed before this check existed still replays to the same topic.
    assert h.do(create(1, "from-an-older-log"))["error"] == "NONE"


def test_fencing_a_broker_moves_its_leaderships_to_the_isr_in_one_change():
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 3, "replication_factor": 3})
    led_by_1 = [p["partition"] for p in h.state.image.topic_partitions("t") if p["leader"] == 1]
    offset_before = h.state.offset
    h.fence(1)
    assert h.state.image.brokers[1]["fenced"]
    changes = h.state.changes_after(offset_before)
    assert len(changes) == 1, "fencing is one committed change"
    for p in h.state.image.topic_partitions("t"):
        assert 1 not in p["isr"] and p["leader"] in (2, 3)
        if p["partition"] in led_by_1:
            assert p["leader_epoch"] == 1 and p["leader"] == p["replicas"][1]
    h.unfence(1)
    assert not h.state.image.brokers[1]["fenced"]
    assert all(1 not in p["isr"] for p in h.state.image.topic_partitions("t")), \
        "a returning broker rejoins ISRs through its leaders, not by unfencing"


def test_last_isr_member_keeps_its_place_and_leads_again_when_back():
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 2})
    first, second = h.p("t", 0)["replicas"]
    h.fence(second)
    h.fence(first)
    p = h.p("t", 0)
    assert p["leader"] == NO_LEADER and p["isr"] == [first]
    h.unfence(second)
    assert h.p("t", 0)["leader"] == NO_LEADER, "clean election: only an ISR member may lead"
    h.unfence(first)
    assert h.p("t", 0)["leader"] == first


def test_unclean_election_picks_an_out_of_sync_replica_when_enabled():
    h = Harness()
    h.do({"op": "create_topic", "name": "u", "partitions": 1, "replication_factor": 2,
          "configs": {"unclean.leader.election.enable": "true"}})
    first, second = h.p("u", 0)["replicas"]
    h.fence(second)
    h.fence(first)
    h.unfence(second)
    assert h.p("u", 0)["leader"] == second and h.p("u", 0)["isr"] == [second]


def test_alter_partition_is_checked_against_both_epochs():
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 3})
    p = h.p("t", 0)
    base = {"op": "alter_partition", "topic": "t", "partition": 0, "leader": p["leader"],
            "leader_epoch": 0, "partition_epoch": 0}
    shrunk = [p["leader"], p["replicas"][1]]
    assert h.do({**base, "isr": shrunk})["error"] == "NONE"
    assert h.p("t", 0)["isr"] == shrunk and h.p("t", 0)["partition_epoch"] == 1
    assert h.do({**base, "isr": p["replicas"]})["error"] == "INVALID_UPDATE_VERSION"
    assert h.do({**base, "leader_epoch": 7, "partition_epoch": 1,
                 "isr": p["replicas"]})["error"] == "FENCED_LEADER_EPOCH"
    current = {**base, "partition_epoch": 1}
    assert h.do({**current, "isr": [p["replicas"][1]]})["error"] == "INVALID_REQUEST"
    h.fence(p["replicas"][2])
    assert h.do({**current, "partition_epoch": h.p("t", 0)["partition_epoch"],
                 "isr": p["replicas"]})["error"] == "INELIGIBLE_REPLICA"


def test_a_new_incarnation_leaves_its_isrs_and_a_retried_registration_does_not():
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 3, "replication_factor": 3})
    again = h.do({"op": "register_broker", "broker_id": 2, "endpoint": "tcp://h:2",
                  "incarnation": "i2"})
    assert again["broker_epoch"] == h.epochs[2]
    assert all(2 in p["isr"] for p in h.state.image.topic_partitions("t"))
    restarted = h.do({"op": "register_broker", "broker_id": 2, "endpoint": "tcp://h:2",
                      "incarnation": "i2-b"})
    assert restarted["broker_epoch"] > h.epochs[2]
    assert h.state.image.brokers[2]["fenced"]
    assert all(2 not in p["isr"] and p["leader"] != 2
               for p in h.state.image.topic_partitions("t"))
    assert h.fence(2)["error"] == "STALE_BROKER_EPOCH"  # the old epoch is fenced out


def test_preferred_leaders_return_when_back_in_the_isr():
    h = Harness()
    h.do({"op": "create_topic", "name": "t", "partitions": 3, "replication_factor": 3})
    h.fence(1)
    h.unfence(1)
    for p in h.state.image.topic_partitions("t"):  # leaders re-admit broker 1 to the ISR
        h.do({"op": "alter_partition", "topic": "t", "partition": p["partition"],
              "leader": p["leader"], "leader_epoch": p["leader_epoch"],
              "partition_epoch": p["partition_epoch"], "isr": p["replicas"]})
    moved = h.do({"op": "elect_preferred_leaders"})["moved"]
    assert moved == 1
    assert all(p["leader"] == p["replicas"][0] for p in h.state.image.topic_partitions("t"))


def test_producer_ids_are_unique_and_survive_snapshots():
    h = Harness()
    ids = [h.do({"op": "init_producer_id"})["producer_id"] for _ in range(3)]
    assert len(set(ids)) == 3
    restored = MetadataState(CONFIG)
    restored.restore(h.state.to_snapshot())
    h.state = restored
    assert h.do({"op": "init_producer_id"})["producer_id"] == max(ids) + 1


def test_history_feeds_followers_and_falls_back_to_a_snapshot():
    h = Harness()
    follower = MetadataImage()
    for offset, records in h.state.changes_after(0):
        follower.apply(offset, records)
    assert follower.to_snapshot()["brokers"] == h.state.image.to_snapshot()["brokers"]
    for i in range(60):  # more changes than the history keeps
        h.do({"op": "create_topic", "name": f"t{i}", "partitions": 1, "replication_factor": 1})
    assert h.state.changes_after(0) is None
    late = MetadataImage.from_snapshot(h.state.image.to_snapshot())
    assert late.topics == h.state.image.topics and late.offset == h.state.offset


def test_same_commands_same_state():
    commands = [{"op": "create_topic", "name": f"t{i}", "partitions": i + 1,
                 "replication_factor": 1 + i % 3} for i in range(5)]
    a, b = Harness(), Harness()
    for c in commands:
        a.do(c)
        b.do(c)
    a.fence(2)
    b.fence(2)
    assert a.state.to_snapshot() == b.state.to_snapshot()


def test_malformed_commands_are_refused_without_touching_the_state():
    h = Harness()
    before = h.state.to_snapshot()
    for bad in [None, [], {"op": "create_topic", "name": "t", "partitions": "3",
                           "replication_factor": 1},
                {"op": "fence_broker", "broker_id": True, "broker_epoch": 1},
                {"op": "alter_partition", "topic": "t", "partition": 0, "leader": 1,
                 "leader_epoch": 0, "partition_epoch": 0, "isr": ["1"]},
                {"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 1,
                 "configs": "x"}]:
        result = h.do(bad) if bad is not None else h.state.apply(h.offset + 1, {"op": None})
        assert result["error"] == "INVALID_REQUEST", bad
    after = h.state.to_snapshot()
    assert after["image"]["topics"] == before["image"]["topics"]


def test_a_retried_registration_is_answered_before_proposing_and_a_new_one_is_not():
    h = Harness()
    retry = {"op": "register_broker", "broker_id": 2, "endpoint": "tcp://h:2",
             "incarnation": "i2"}
    assert h.state.check_proposal(retry) == {"error": "NONE", "broker_epoch": h.epochs[2]}
    assert h.state.check_proposal({**retry, "incarnation": "i2-b"}) is None  # a restart
    assert h.state.check_proposal({**retry, "broker_id": 4, "incarnation": "i4"}) is None


def test_changes_after_any_offset_in_history_are_exactly_the_later_entries():
    h = Harness()
    for i in range(20):
        h.do({"op": "create_topic", "name": f"t{i}", "partitions": 1, "replication_factor": 1})
    offsets = [o for o, _ in h.state.history]
    for after in [h.state.history_start, *offsets]:
        assert [o for o, _ in h.state.changes_after(after)] == [o for o in offsets if o > after]
    assert h.state.changes_after(h.state.offset) == []


def test_changes_go_encoded_once_and_decode_to_what_changes_after_gives():
    h = Harness()
    before = h.offset
    h.do({"op": "create_topic", "name": "orders", "partitions": 3, "replication_factor": 2})
    encoded = h.state.changes.encoded_after(before)
    assert decode_changes(encoded) == h.state.changes_after(before)
    assert decode_changes(memoryview(encoded)) == h.state.changes_after(before), \
        "a reader gets a buffer"
    assert h.state.changes.encoded_after(before) == encoded
    assert decode_changes(h.state.changes.encoded_after(h.offset)) == []
    # Each change's bytes are the same object in every reply that carries it.
    [change] = h.state.changes._encoded.values()
    assert change in h.state.changes.encoded_after(before - 1)
    assert h.state.changes.encoded_after(-1) is None  # before the history: a snapshot


def test_applying_records_leaves_the_callers_records_as_they_were():
    """Coordinators keep the records they apply in their history and hand the same
    dicts out again: the image takes copies and never writes into them."""
    record = {"type": "partition", "topic": "t", "partition": 0, "replicas": [1, 2],
              "leader": 1, "leader_epoch": 0, "isr": [1, 2], "partition_epoch": 0}
    kept = dict(record)
    image = MetadataImage()
    image.apply(1, [record, {"type": "topic", "name": "t", "partitions": 1,
                             "replication_factor": 2, "configs": {}}])
    assert record == kept
    assert image.partition("t", 0) == {k: v for k, v in kept.items() if k != "type"}
    image.partition("t", 0)["leader"] = 2
    assert record["leader"] == 1

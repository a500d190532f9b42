"""The preferred leader election (`topic rebalance-leaders`, ElectLeaders): scope, the
result per partition, refusals, and how the CLI reports it."""

from mini_kafka.cli.topic_views import election_report
from mini_kafka.config import config_from_dict
from mini_kafka.coordinator.commands import check_command
from tests.unit.test_metadata_state import Harness

CONFIG = config_from_dict({"brokers": {"count": 4}})


def back_in_isr(h: Harness, topic: str) -> None:
    """Every leader re-admits its returned followers (what replication would do)."""
    for p in h.state.image.topic_partitions(topic):
        if p["leader"] >= 0 and p["isr"] != p["replicas"]:
            h.do({"op": "alter_partition", "topic": topic, "partition": p["partition"],
                  "leader": p["leader"], "leader_epoch": p["leader_epoch"],
                  "partition_epoch": p["partition_epoch"], "isr": p["replicas"]})


def setup() -> Harness:
    """Brokers 1 and 4 died and came back; 1 is in sync again, 4 is not yet."""
    h = Harness(CONFIG, (1, 2, 3, 4))
    for name in ("a", "b"):
        h.do({"op": "create_topic", "name": name, "partitions": 4, "replication_factor": 2})
    h.fence(1)
    h.unfence(1)
    back_in_isr(h, "a")
    back_in_isr(h, "b")
    h.fence(4)
    h.unfence(4)
    return h


def preferred_led(h, topic):
    return [p["leader"] == p["replicas"][0] for p in h.state.image.topic_partitions(topic)]


def test_everywhere_moves_what_it_can_and_names_what_it_cannot():
    h = setup()
    expected_stuck = sorted((p["topic"], p["partition"]) for p in h.state.image.partitions.values()
                            if p["replicas"][0] == 4)
    result = h.do({"op": "elect_preferred_leaders"})
    assert result["error"] == "NONE"
    by_error = {}
    for r in result["partitions"]:
        by_error.setdefault(r["error"], []).append((r["topic"], r["partition"]))
    assert sorted(by_error["PREFERRED_LEADER_NOT_AVAILABLE"]) == expected_stuck
    assert result["moved"] == len(by_error["NONE"]) > 0
    assert "ELECTION_NOT_NEEDED" not in by_error  # only counted, as Kafka does
    assert result["moved"] + len(expected_stuck) + result["not_needed"] == 8
    for p in h.state.image.partitions.values():
        assert (p["leader"] == p["replicas"][0]) == (p["replicas"][0] != 4)


def test_one_topic_or_one_partition():
    h = setup()
    result = h.do({"op": "elect_preferred_leaders", "topics": {"a": None}})
    assert {r["topic"] for r in result["partitions"]} == {"a"}
    assert len(result["partitions"]) == 4  # a named scope reports every partition
    assert not all(preferred_led(h, "b"))  # b untouched
    h2 = setup()
    movable = next(p for p in h2.state.image.topic_partitions("b")
                   if p["leader"] != p["replicas"][0] and p["replicas"][0] != 4)
    result = h2.do({"op": "elect_preferred_leaders",
                    "topics": {"b": [movable["partition"]]}})
    assert [(r["partition"], r["error"]) for r in result["partitions"]] == \
        [(movable["partition"], "NONE")]
    assert h2.p("b", movable["partition"])["leader"] == movable["replicas"][0]
    again = h2.do({"op": "elect_preferred_leaders", "topics": {"b": [movable["partition"]]}})
    assert again["partitions"][0]["error"] == "ELECTION_NOT_NEEDED" and again["moved"] == 0


def test_unknown_topics_and_partitions_are_named_and_move_nothing():
    h = setup()
    before = h.state.to_snapshot()["image"]["partitions"]
    result = h.do({"op": "elect_preferred_leaders", "topics": {"a": None, "nope": None}})
    assert result == {"error": "UNKNOWN_TOPIC_OR_PARTITION",
                      "message": "topic 'nope' does not exist"}
    result = h.do({"op": "elect_preferred_leaders", "topics": {"a": [1, 9, 4]}})
    assert result["error"] == "UNKNOWN_TOPIC_OR_PARTITION"
    assert result["message"] == "a has 4 partition(s), numbered 0 to 3: no partition 4, 9"
    assert h.state.to_snapshot()["image"]["partitions"] == before
    assert "partitions must be null or a list of integers" in check_command(
        {"op": "elect_preferred_leaders", "topics": {"a": "0"}})
    assert "must map topic names" in check_command(
        {"op": "elect_preferred_leaders", "topics": ["a"]})


def test_the_report_counts_first_then_lists():
    result = {"moved": 1, "not_needed": 5, "partitions": [
        {"topic": "a", "partition": 0, "error": "NONE", "preferred": 1, "previous_leader": 2},
        {"topic": "a", "partition": 3, "error": "PREFERRED_LEADER_NOT_AVAILABLE",
         "preferred": 4, "previous_leader": 3},
        {"topic": "b", "partition": 1, "error": "ELECTION_NOT_NEEDED", "preferred": 2,
         "previous_leader": 2}]}
    lines, stuck = election_report(result)
    assert lines == ["moved 1 leader(s) to their preferred replica; 1 not movable (preferred "
                     "replica not in the ISR, or down); 6 already there",
                     "\ta/0: leader 2 -> 1",
                     "\ta/3: not movable, preferred broker 4 is out of the ISR or down"]
    assert stuck == 1

"""Where create_topic puts replicas: leaders and replicas even over the brokers, and a
dead leader's partitions spread over several brokers, not all onto the next one."""

from collections import Counter

from mini_kafka.config import config_from_dict
from mini_kafka.coordinator.commands import check_command, stamped
from tests.unit.test_metadata_state import Harness

CONFIG = config_from_dict({"brokers": {"count": 9}})
BROKERS = tuple(range(1, 10))


def create(h, name="orders", partitions=36, rf=3, **extra):
    result = h.do(stamped({"op": "create_topic", "name": name, "partitions": partitions,
                           "replication_factor": rf, **extra}))
    assert result["error"] == "NONE", result
    return h.state.image.topic_partitions(name)


def test_leaders_and_replicas_are_even_and_each_leaders_followers_vary():
    h = Harness(CONFIG, BROKERS)
    parts = create(h)
    assert set(Counter(p["replicas"][0] for p in parts).values()) == {4}
    assert set(Counter(b for p in parts for b in p["replicas"]).values()) == {12}
    for p in parts:
        assert len(set(p["replicas"])) == 3 and p["leader"] == p["replicas"][0]
    for b in BROKERS:  # the 4 partitions b leads have 4 different next replicas
        assert len({p["replicas"][1] for p in parts if p["replicas"][0] == b}) == 4


def test_a_dead_broker_s_leadership_spreads_over_several():
    h = Harness(CONFIG, BROKERS)
    create(h)
    h.fence(5)
    leaders = Counter(p["leader"] for p in h.state.image.topic_partitions("orders"))
    assert 5 not in leaders and max(leaders.values()) == 5  # 4 + one of broker 5's
    h.fence(6)  # a neighbour too
    leaders = Counter(p["leader"] for p in h.state.image.topic_partitions("orders"))
    assert max(leaders.values()) <= 7  # placement 1 gives broker 7 all 12 (3x its share)


def test_grown_topics_keep_the_pattern_and_old_commands_keep_theirs():
    h = Harness(CONFIG, BROKERS)
    create(h, partitions=18)
    h.do(stamped({"op": "create_partitions", "name": "orders", "count": 36}))
    grown = h.state.image.topic_partitions("orders")
    fresh = create(Harness(CONFIG, BROKERS))
    assert [p["replicas"] for p in grown] == [p["replicas"] for p in fresh]
    # A create_topic from a log written before placements: the brokers after the leader.
    old = Harness(CONFIG, BROKERS)
    old.do({"op": "create_topic", "name": "orders", "partitions": 12, "replication_factor": 3})
    for p in old.state.image.topic_partitions("orders"):
        first = p["replicas"][0]
        assert p["replicas"] == [(first - 1 + j) % 9 + 1 for j in range(3)]
    assert "placement must be one of [1, 2]" in check_command(
        {"op": "create_topic", "name": "t", "partitions": 1, "replication_factor": 1,
         "placement": 7})

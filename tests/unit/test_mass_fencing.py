"""Many brokers fenced in one committed change, and the controller's batching of fences
that arrive while one is being committed."""

import copy

from mini_kafka.config import config_from_dict
from mini_kafka.coordinator.commands import check_command
from mini_kafka.coordinator.fencing import FenceBatcher
from mini_kafka.coordinator.sessions import BrokerSessions
from mini_kafka.coordinator.state import MetadataState
from mini_kafka.metadata import NO_LEADER
from tests.unit.test_metadata_state import Harness

CONFIG = config_from_dict({"brokers": {"count": 10}})
BROKERS = tuple(range(1, 11))


def cluster() -> Harness:
    h = Harness(CONFIG, BROKERS)
    h.do({"op": "create_topic", "name": "t", "partitions": 40, "replication_factor": 3})
    return h


def fence_many(h: Harness, brokers) -> dict:
    return h.do({"op": "fence_brokers", "brokers": [
        {"broker_id": b, "broker_epoch": h.epochs[b]} for b in brokers]})


def test_one_command_fences_many_and_re_leads_from_the_live_isr():
    h = cluster()
    dead = [2, 3, 4, 7, 8]  # neighbours too: a partition may lose its leader and follower
    before = h.state.offset
    result = fence_many(h, dead)
    assert result == {"error": "NONE", "fenced": dead, "stale": []}
    changes = h.state.changes_after(before)
    assert len(changes) == 1  # one committed change holds every fence and every re-lead
    fenced_records = [r for r in changes[0][1] if r["type"] == "broker" and r["fenced"]]
    assert sorted(r["id"] for r in fenced_records) == dead
    for p in h.state.image.topic_partitions("t"):
        live_isr = [b for b in p["isr"] if b not in dead]
        if live_isr:
            assert p["leader"] in live_isr, p
            assert p["isr"] == live_isr  # every dead replica left, none stayed behind
        else:  # every replica died: leaderless, its last ISR member kept to come back
            assert p["leader"] == NO_LEADER and len(p["isr"]) == 1
    # Each partition changed once, not once per fenced broker.
    keys = [(r["topic"], r["partition"]) for r in changes[0][1] if r["type"] == "partition"]
    assert len(keys) == len(set(keys))


def test_a_new_leader_is_never_a_broker_fenced_in_the_same_command():
    h = cluster()
    # Partition p's replicas are consecutive brokers: fencing a leader and its next
    # follower together must skip both, which one-by-one fencing would not.
    p = h.p("t", 0)
    dead = p["replicas"][:2]
    fence_many(h, dead)
    assert h.p("t", 0)["leader"] == p["replicas"][2]
    assert h.p("t", 0)["leader_epoch"] == p["leader_epoch"] + 1  # one bump, not two


def test_a_stale_epoch_in_the_list_is_left_alone():
    h = cluster()
    old_epoch = h.epochs[5]
    h.epochs[5] = h.do({"op": "register_broker", "broker_id": 5, "endpoint": "tcp://h:5",
                        "incarnation": "i5-again"})["broker_epoch"]
    h.unfence(5)
    result = h.do({"op": "fence_brokers", "brokers": [
        {"broker_id": 5, "broker_epoch": old_epoch},
        {"broker_id": 6, "broker_epoch": h.epochs[6]}]})
    assert result == {"error": "NONE", "fenced": [6], "stale": [5]}
    assert not h.state.image.brokers[5]["fenced"] and h.state.image.brokers[6]["fenced"]


def test_an_old_single_fence_record_applies_as_before():
    """Logs written before fence_brokers hold fence_broker entries: they replay to the
    same records as fencing that one broker with the new command."""
    a, b = cluster(), cluster()
    one = a.fence(4)
    many = fence_many(b, [4])
    assert one == {"error": "NONE"} and many["fenced"] == [4]
    assert a.state.history[-1] == b.state.history[-1]
    assert a.state.to_snapshot() == b.state.to_snapshot()
    assert a.fence(4) == {"error": "NONE"}  # fencing a fenced broker changes nothing
    assert a.state.history[-1] == b.state.history[-1]


def test_replaying_the_log_reaches_the_same_state():
    h = cluster()
    commands = []
    original_do = h.do

    def recording(command):
        commands.append((h.offset + 1, copy.deepcopy(command)))
        return original_do(command)
    h.do = recording
    fence_many(h, [1, 2, 9])
    h.unfence(2)
    fence_many(h, [2, 5])
    replayed = MetadataState(CONFIG)
    fresh = cluster()  # the same start
    replayed.restore(fresh.state.to_snapshot())
    for offset, command in commands:
        replayed.apply(offset, command)
    assert replayed.to_snapshot() == h.state.to_snapshot()


def test_malformed_fence_lists_are_refused():
    for brokers, problem in [
            ("1", "field 'brokers' must be list"),
            ([1, 2], "integer broker_id and broker_epoch"),
            ([{"broker_id": 1}], "integer broker_id and broker_epoch"),
            ([{"broker_id": True, "broker_epoch": 3}], "integer broker_id and broker_epoch"),
            ([{"broker_id": 1, "broker_epoch": 3}, {"broker_id": 1, "broker_epoch": 4}],
             "named twice")]:
        assert problem in check_command({"op": "fence_brokers", "brokers": brokers})
    h = cluster()
    before = h.state.to_snapshot()["image"]
    assert h.do({"op": "fence_brokers", "brokers": [1]})["error"] == "INVALID_REQUEST"
    assert h.state.to_snapshot()["image"]["brokers"] == before["brokers"]


# -- the controller's batching (pure: time is passed in) ------------------------------------

def test_fences_decided_while_one_commits_go_together_in_the_next():
    sessions, batcher = BrokerSessions(1500), FenceBatcher()
    sessions.grant_grace({}, now_ms=0, term=1)
    for b in range(1, 8):
        sessions.heartbeat(b, 100 + b, now_ms=0)
    sessions.heartbeat(1, 101, now_ms=-100)  # broker 1 went silent a little earlier
    writes = []

    def tick(now_ms):
        for b, epoch in sessions.expired(now_ms, 1):
            sessions.forget(b)
            batcher.add(b, epoch)
        batch = batcher.take()
        if batch is not None:
            writes.append([f["broker_id"] for f in batch])

    tick(1_401)  # broker 1's session is over: its fence is proposed at once
    assert writes == [[1]]
    for b in (2, 3, 4, 5, 6):  # a mass kill: the rest of them fall silent together
        sessions.heartbeat(b, 100 + b, now_ms=0)
    sessions.heartbeat(7, 107, now_ms=1_400)  # broker 7 keeps heartbeating
    tick(1_501)
    tick(1_520)
    assert writes == [[1]]  # nothing while the first write is in flight
    assert batcher.waiting == [2, 3, 4, 5, 6]
    batcher.done()
    tick(1_530)
    assert writes == [[1], [2, 3, 4, 5, 6]]  # all of them in one write
    batcher.done()
    assert batcher.take() is None


def test_the_same_fence_is_decided_once_and_a_new_incarnation_again():
    batcher = FenceBatcher()
    assert batcher.add(3, 10)
    assert not batcher.add(3, 10)  # the drop and the session expiry both report it
    assert batcher.take() == [{"broker_id": 3, "broker_epoch": 10}]
    assert not batcher.add(3, 10)  # in flight already
    assert batcher.add(3, 25)  # it came back and died again: that one waits its turn
    assert batcher.take() is None
    batcher.done()
    assert batcher.take() == [{"broker_id": 3, "broker_epoch": 25}]


# -- after the fences: leaders must not flood the controller -------------------------------

def test_a_leader_does_not_ask_to_re_add_a_fenced_follower():
    """A follower caught up when its broker died still looks caught up for a lag window:
    leaders of every partition it followed would ask for it back, each ask refused,
    every maintenance pass, all at once after a mass failure (KIP-841)."""
    from mini_kafka.broker.replica import LeaderState
    s = LeaderState(1, leader_epoch=0, partition_epoch=0, replicas=[1, 2, 3], isr=[1, 2, 3],
                    leo=0, hw=0, now_ms=0)
    s.on_follower_fetch(2, 0, now_ms=100)
    s.on_follower_fetch(3, 0, now_ms=100)
    s.on_isr_committed([1], partition_epoch=1)  # the controller fenced 2 and 3
    assert s.wanted_isr(now_ms=600, lag_max_ms=3000) == [1, 2, 3]  # what it used to ask
    assert s.wanted_isr(now_ms=600, lag_max_ms=3000, ineligible=frozenset({2, 3})) is None
    assert s.wanted_isr(now_ms=600, lag_max_ms=3000, ineligible=frozenset({3})) == [1, 2]


def test_an_isr_change_the_controller_would_refuse_is_refused_before_raft():
    h = cluster()
    p = h.p("t", 0)
    fence_many(h, [p["replicas"][1]])
    p = h.p("t", 0)
    ask = {"op": "alter_partition", "topic": "t", "partition": 0, "leader": p["leader"],
           "leader_epoch": p["leader_epoch"], "partition_epoch": p["partition_epoch"],
           "isr": sorted(p["replicas"])}
    assert h.state.check_proposal(ask)["error"] == "INELIGIBLE_REPLICA"
    stale = {**ask, "isr": sorted(p["isr"]), "partition_epoch": p["partition_epoch"] - 1}
    assert h.state.check_proposal(stale)["error"] == "INVALID_UPDATE_VERSION"
    assert h.state.check_proposal({**ask, "isr": sorted(p["isr"])}) is None
    assert h.do(ask)["error"] == "INELIGIBLE_REPLICA"  # and, if proposed, when applied

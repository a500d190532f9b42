"""Scripted scenarios for the pure Raft core: each drives one rule to its edge."""

import random

import pytest

from mini_kafka.raft.core import CANDIDATE, FOLLOWER, LEADER, NotLeader, RaftConfig, RaftNode
from mini_kafka.raft.messages import (
    APPEND,
    APPEND_RESP,
    PRE_VOTE_RESP,
    SNAPSHOT,
    VOTE,
    VOTE_RESP,
    Entry,
    Msg,
    Snapshot,
)

CONFIG = RaftConfig(election_ticks=10, heartbeat_ticks=1)


class Net:
    """Nodes with instant, lossless delivery, except over links we block."""

    def __init__(self, size: int):
        ids = list(range(1, size + 1))
        self.nodes = {i: RaftNode(i, ids, CONFIG, random.Random(i)) for i in ids}
        self.blocked: set[int] = set()
        self.applied = {i: [] for i in ids}

    def flush(self) -> None:
        while True:
            messages = []
            for i, node in self.nodes.items():
                rd = node.ready()
                self.applied[i].extend(rd.committed)
                messages.extend(rd.messages)
            messages = [m for m in messages
                        if m.src not in self.blocked and m.dst not in self.blocked]
            if not messages:
                return
            for m in messages:
                self.nodes[m.dst].step(m)

    def tick(self, times: int = 1) -> None:
        for _ in range(times):
            for node in self.nodes.values():
                node.tick()
            self.flush()

    def leader(self) -> RaftNode | None:
        leaders = [n for n in self.nodes.values() if n.role == LEADER and n.id not in self.blocked]
        assert len(leaders) <= 1
        return leaders[0] if leaders else None

    def elect(self) -> RaftNode:
        for _ in range(100):
            self.tick()
            if self.leader():
                return self.leader()
        raise AssertionError("no leader elected")


def test_a_single_node_elects_itself_and_commits_at_once():
    node = RaftNode(1, [1], CONFIG, random.Random(1))
    for _ in range(25):
        node.tick()
    assert node.role == LEADER
    index, term = node.propose("x")
    committed = node.ready().committed
    assert [(e.index, e.data) for e in committed][-1] == (index, "x")


def test_three_nodes_elect_one_leader_and_apply_the_same_entries():
    net = Net(3)
    leader = net.elect()
    for value in ("a", "b", "c"):
        leader.propose(value)
    net.flush()
    net.tick()
    datas = {i: [e.data for e in applied if e.data] for i, applied in net.applied.items()}
    assert datas == {1: ["a", "b", "c"], 2: ["a", "b", "c"], 3: ["a", "b", "c"]}
    with pytest.raises(NotLeader) as info:
        next(n for n in net.nodes.values() if n.role == FOLLOWER).propose("no")
    assert info.value.leader == leader.id


def test_a_granted_vote_is_in_the_same_ready_as_its_reply_and_survives_restart():
    voter = RaftNode(1, [1, 2, 3], CONFIG, random.Random(1))
    voter.step(Msg(VOTE, 2, 1, 5, last_index=0, last_term=0))
    rd = voter.ready()
    assert rd.hard_state == (5, 2), "the vote must be persisted before the reply is sent"
    assert [m.granted for m in rd.messages if m.type == VOTE_RESP] == [True]
    restarted = RaftNode(1, [1, 2, 3], CONFIG, random.Random(9), term=5, voted_for=2)
    restarted.step(Msg(VOTE, 3, 1, 5, last_index=0, last_term=0))
    assert [m.granted for m in restarted.ready().messages] == [False]


def _campaign(node: RaftNode, supporter: int) -> None:
    while node.role == FOLLOWER:
        node.tick()
    node.step(Msg(PRE_VOTE_RESP, supporter, node.id, node.term + 1, granted=True))
    assert node.role == CANDIDATE
    node.step(Msg(VOTE_RESP, supporter, node.id, node.term, granted=True))
    assert node.role == LEADER
    node.ready()


def test_an_old_term_entry_is_not_committed_by_counting_replicas():
    """Raft's Figure 8: a leader may count replicas only for an entry of its own term."""
    leader = RaftNode(1, [1, 2, 3], CONFIG, random.Random(1), term=3,
                      entries=[Entry(1, 1, None), Entry(2, 2, "from term 2")])
    _campaign(leader, supporter=2)
    assert leader.term == 4 and leader.last_index == 3  # its own no-op at index 3
    leader.step(Msg(APPEND_RESP, 2, 1, 4, success=True, match_index=2))
    assert leader.commit == 0, "index 2 is on a majority but from an older term"
    leader.step(Msg(APPEND_RESP, 2, 1, 4, success=True, match_index=3))
    assert leader.commit == 3


def test_pre_vote_keeps_a_rejoining_node_from_deposing_the_leader():
    net = Net(3)
    leader = net.elect()
    term = leader.term
    isolated = next(i for i in net.nodes if i != leader.id)
    net.blocked = {isolated}
    net.tick(100)  # it times out again and again, alone
    assert net.nodes[isolated].term == term, "pre-vote must not raise its term"
    net.blocked = set()
    net.tick(30)
    assert net.leader() is leader and leader.term == term


def test_a_leader_cut_off_from_the_majority_steps_down():
    net = Net(3)
    leader = net.elect()
    net.blocked = {leader.id}
    for _ in range(CONFIG.election_ticks * 2):
        leader.tick()
        leader.ready()
    assert leader.role == FOLLOWER
    with pytest.raises(NotLeader):
        leader.propose("stale")


def test_rejections_skip_a_whole_conflicting_term():
    follower = RaftNode(2, [1, 2], CONFIG, random.Random(2), term=2,
                        entries=[Entry(1, 1, None)] + [Entry(2, i, "old") for i in range(2, 50)])
    follower.step(Msg(APPEND, 1, 2, 3, prev_index=49, prev_term=3, commit=1))
    reject = follower.ready().messages[0]
    assert not reject.success
    assert (reject.hint_term, reject.hint_index) == (2, 2), "jump to the start of term 2"
    follower.step(Msg(APPEND, 1, 2, 3, prev_index=1, prev_term=1, commit=1,
                      entries=(Entry(3, 2, "new"),)))
    rd = follower.ready()
    assert rd.truncate_from == 2 and [e.data for e in rd.entries] == ["new"]
    assert follower.last_index == 2


def test_a_follower_too_far_behind_is_sent_the_snapshot():
    net = Net(3)
    leader = net.elect()
    lagging = next(i for i in net.nodes if i != leader.id)
    net.blocked = {lagging}
    for i in range(20):
        leader.propose(f"e{i}")
    net.flush()
    leader.compact(leader.applied, {"state": "at applied"})
    net.blocked = set()
    sent = []
    for _ in range(3):
        for node in net.nodes.values():
            node.tick()
        for i, node in net.nodes.items():
            rd = node.ready()
            if i == lagging and rd.snapshot:
                sent.append(rd.snapshot)
            for m in rd.messages:
                net.nodes[m.dst].step(m)
    assert sent and sent[0].data == {"state": "at applied"}
    assert net.nodes[lagging].commit >= sent[0].index


def test_read_index_is_granted_after_a_quorum_heartbeat():
    net = Net(3)
    leader = net.elect()
    leader.propose("x")
    net.flush()
    leader.read_index("read-1")
    rd = leader.ready()
    assert rd.read_states == []  # not before a majority confirmed leadership
    for m in rd.messages:
        net.nodes[m.dst].step(m)
    for i in net.nodes:
        if i != leader.id:
            for m in net.nodes[i].ready().messages:
                leader.step(m)
    assert leader.ready().read_states == [("read-1", leader.commit)]


def test_messages_round_trip_through_the_wire_form():
    m = Msg(SNAPSHOT, 1, 2, 7, snapshot=Snapshot(10, 6, {"k": [1, 2]}))
    assert Msg.from_wire(m.to_wire()) == m
    a = Msg(APPEND, 1, 2, 7, prev_index=3, prev_term=6, commit=3,
            entries=(Entry(7, 4, {"op": "x"}), Entry(7, 5, None)), ctx=9)
    assert Msg.from_wire(a.to_wire()) == a
    with pytest.raises(ValueError, match="unknown raft message type"):
        Msg.from_wire({"type": "bogus", "src": 1, "dst": 2, "term": 1})
    with pytest.raises(ValueError, match="unknown raft message field"):
        Msg.from_wire({"type": APPEND, "src": 1, "dst": 2, "term": 1, "evil": 1})


def test_followers_of_a_leader_seen_dying_elect_another_without_waiting_out_the_timeout():
    net = Net(5)
    old = net.elect()
    net.blocked.add(old.id)  # killed: it sends and receives nothing from here on
    followers = sorted((n for n in net.nodes.values() if n.id != old.id), key=lambda n: n.id)
    assert [f.peer_lost(old.id) for f in followers] == [0, 1, 2, 3]  # turns, in voter order
    assert all(f.leader is None for f in followers)
    followers[0].campaign()  # the shell's first pause ends
    net.flush()
    assert followers[0].role == LEADER
    assert all(f.leader == followers[0].id for f in followers[1:])
    for later in followers[1:]:  # their turns come: a leader is known, nothing happens
        later.campaign()
    net.flush()
    assert all(f.role == FOLLOWER for f in followers[1:]) and net.leader() is followers[0]


def test_followers_campaigning_together_split_the_vote_which_is_why_they_take_turns():
    net = Net(3)
    old = net.elect()
    net.blocked.add(old.id)
    followers = [n for n in net.nodes.values() if n.id != old.id]
    for f in followers:
        f.peer_lost(old.id)
        f.campaign()
    net.flush()
    assert net.leader() is None


def test_a_false_report_of_a_dead_leader_disrupts_nothing():
    """One follower's connection to a live leader dropped: the leader and the other
    follower still hear each other, so its pre-vote is refused and no term is raised."""
    net = Net(3)
    leader = net.elect()
    term = leader.term
    wrong, other = [n for n in net.nodes.values() if n.id != leader.id]
    assert wrong.peer_lost(leader.id) is not None
    wrong.campaign()
    net.flush()
    assert net.leader() is leader and leader.term == term
    assert other.leader == leader.id
    net.tick()  # the leader's next heartbeat brings the misled follower back
    assert wrong.role == FOLLOWER and wrong.leader == leader.id and wrong.term == term


def test_a_lost_peer_that_did_not_lead_us_changes_nothing():
    net = Net(3)
    leader = net.elect()
    follower, other = [n for n in net.nodes.values() if n.id != leader.id]
    assert follower.peer_lost(other.id) is None
    assert leader.peer_lost(follower.id) is None
    assert follower.leader == leader.id and leader.role == LEADER


def test_a_follower_that_sees_the_death_late_hears_the_vote_its_lease_hid():
    """The first follower to see the leader die asks before the other has seen it: the
    other, still in its lease, ignores the request, and hears it once it sees the death
    (else both wait out an election timeout: the candidate does not ask again sooner)."""
    net = Net(3)
    old = net.elect()
    net.blocked.add(old.id)
    early, late = sorted((n for n in net.nodes.values() if n.id != old.id), key=lambda n: n.id)
    assert early.peer_lost(old.id) == 0
    early.campaign()
    net.flush()
    assert net.leader() is None and late.leader == old.id  # hidden by the lease
    assert late.peer_lost(old.id) == 1
    net.flush()
    assert net.leader() is early and late.leader == early.id
    late.campaign()  # its own turn comes: a leader is known, nothing happens
    net.flush()
    assert net.leader() is early and late.role == FOLLOWER


def test_heartbeats_do_not_resend_what_a_slow_follower_has_not_acknowledged():
    """A follower slowed by its disk answers late; the leader's heartbeats meanwhile carry
    no entries (each resend made it decode the same large entries again)."""
    net = Net(3)
    leader = net.elect()
    slow = next(i for i in net.nodes if i != leader.id)
    leader.propose({"op": "big", "data": "x" * 1000})
    sent = [m for m in leader.ready().messages if m.type == APPEND and m.dst == slow]
    assert sent and sent[0].entries  # the append, once; its answer never comes back
    for _ in range(5):
        leader.tick()
        again = [m for m in leader.ready().messages if m.type == APPEND and m.dst == slow]
        assert all(not m.entries for m in again), "a heartbeat resent unacknowledged entries"


def test_a_follower_that_lost_an_append_gets_it_again_from_the_next_heartbeat():
    net = Net(3)
    leader = net.elect()
    lossy = next(i for i in net.nodes if i != leader.id)
    net.blocked.add(lossy)
    leader.propose({"op": "x"})
    net.flush()  # the append to it is lost
    net.blocked.discard(lossy)
    index = leader.last_index
    net.tick(2)  # a heartbeat: it rejects, and is resent from its hint
    assert net.nodes[lossy].last_index == index
    assert net.nodes[lossy].commit == index

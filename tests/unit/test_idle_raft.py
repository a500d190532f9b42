"""Idle means idle: an ensemble with nothing to do wakes once per heartbeat (its leader)
and about once per election timeout (its followers), whatever the tick resolution.

A simulated minute on a manual clock, the coordinators' shell logic (raft/timer.py:
sleep until the next due tick, catch up before every input) over an in-memory network,
so the counts are exact and nothing is timed.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random

import pytest

from mini_kafka.config import ClusterConfig, TimeoutsSection
from mini_kafka.raft import LEADER, RaftNode
from mini_kafka.raft.timer import RaftTimer, raft_config

MINUTE_MS = 60_000
LATENCY_MS = 1


class Ensemble:
    """Each node sleeps until its timer's next due tick, or until an input makes
    something due sooner, as CoordinatorRole._tick_loop does."""

    def __init__(self, size: int, timeouts: TimeoutsSection, seed: int = 1):
        config = raft_config(timeouts, 256)
        ids = list(range(1, size + 1))
        self.now_ms = 0
        self.nodes = {i: RaftNode(i, ids, config, random.Random(seed * 100 + i)) for i in ids}
        self.timers = {i: RaftTimer(n, timeouts.raft_tick_interval_ms, 0)
                       for i, n in self.nodes.items()}
        self.wakes = dict.fromkeys(ids, 0)
        self.sent = 0
        self._events: list = []
        self._seq = itertools.count()
        self._sleeping_until = {}
        for i in ids:
            self._sleep(i)

    def _sleep(self, i: int) -> None:
        due = self.timers[i].next_due_ms()
        self._sleeping_until[i] = due
        heapq.heappush(self._events, (due, next(self._seq), "wake", i, due))

    def _drive(self, i: int) -> None:
        for msg in self.nodes[i].ready().messages:
            self.sent += 1
            heapq.heappush(self._events, (self.now_ms + LATENCY_MS, next(self._seq), "msg",
                                          msg.dst, msg))
        if self.timers[i].next_due_ms() < self._sleeping_until[i]:
            self._sleep(i)  # woken early: something is due sooner

    def run_until(self, end_ms: int) -> None:
        while self._events and self._events[0][0] <= end_ms:
            at, _, kind, i, payload = heapq.heappop(self._events)
            self.now_ms = at
            if kind == "wake":
                if payload != self._sleeping_until[i]:
                    continue  # superseded by an earlier wake
                self.wakes[i] += 1
                self.timers[i].catch_up(at)
                self._drive(i)
                self._sleep(i)
            else:
                self.timers[i].catch_up(at)
                self.nodes[i].step(payload)
                self._drive(i)
        self.now_ms = end_ms

    def leaders(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.role == LEADER]

    def reset_counts(self) -> None:
        self.wakes = dict.fromkeys(self.nodes, 0)
        self.sent = 0


def idle_minute(size: int, timeouts: TimeoutsSection) -> Ensemble:
    ensemble = Ensemble(size, timeouts)
    ensemble.run_until(10_000)  # elect a leader
    assert len(ensemble.leaders()) == 1
    ensemble.reset_counts()
    term = ensemble.nodes[ensemble.leaders()[0]].term
    ensemble.run_until(ensemble.now_ms + MINUTE_MS)
    leader = ensemble.leaders()
    assert len(leader) == 1 and ensemble.nodes[leader[0]].term == term, "no new election"
    return ensemble


@pytest.mark.parametrize("size", [3, 5])
def test_an_idle_ensemble_wakes_per_heartbeat_not_per_tick(size):
    timeouts = ClusterConfig().timeouts
    ensemble = idle_minute(size, timeouts)
    leader = ensemble.leaders()[0]
    beats = MINUTE_MS // timeouts.raft_heartbeat_interval_ms
    assert ensemble.wakes[leader] <= beats + 1
    for i, wakes in ensemble.wakes.items():
        if i != leader:  # heard from the leader every beat: its election never came due
            assert wakes <= MINUTE_MS // timeouts.raft_election_timeout_ms + 1, wakes
    # A heartbeat and its answer per follower per interval: nothing else moves.
    assert ensemble.sent <= 2 * (size - 1) * (beats + 1)


def test_idle_wakes_do_not_grow_with_a_finer_tick():
    coarse = ClusterConfig().timeouts
    fine = dataclasses.replace(coarse, raft_tick_interval_ms=1)
    counts = [idle_minute(3, t) for t in (coarse, fine)]
    assert counts[1].sent == counts[0].sent
    for a, b in zip(sorted(counts[0].wakes.values()), sorted(counts[1].wakes.values()),
                    strict=True):
        assert b <= a + 1


def test_the_default_intervals_keep_an_idle_cluster_quiet():
    """What an idle 3+3 cluster costs is set by these (figures in config.py's comment):
    at the old 50 ms heartbeat the six processes burnt 10 % of a core doing nothing."""
    t = ClusterConfig().timeouts
    assert MINUTE_MS // t.raft_heartbeat_interval_ms <= 120
    assert MINUTE_MS // t.broker_heartbeat_interval_ms <= 240
    assert t.broker_session_timeout_ms >= 3 * t.broker_heartbeat_interval_ms


def test_a_follower_that_stops_hearing_its_leader_still_campaigns_in_time():
    timeouts = ClusterConfig().timeouts
    ensemble = Ensemble(3, timeouts)
    ensemble.run_until(10_000)
    old = ensemble.leaders()[0]
    # Cut the leader off: it wakes and sends, nothing arrives.
    ensemble._events = [e for e in ensemble._events if not (e[2] == "msg")]
    lost_at = ensemble.now_ms
    real_drive = ensemble._drive

    def drive(i):
        if i == old:
            ensemble.nodes[i].ready()  # its messages are lost
            if ensemble.timers[i].next_due_ms() < ensemble._sleeping_until[i]:
                ensemble._sleep(i)
        else:
            real_drive(i)
    ensemble._drive = drive
    ensemble.run_until(lost_at + 2 * timeouts.raft_election_timeout_ms + 1_000)
    others = [i for i in ensemble.leaders() if i != old]
    assert len(others) == 1, "a follower's election timer fired and it won"
    assert ensemble.nodes[old].role != LEADER, "check-quorum deposed the cut-off leader"


def test_a_leader_that_slept_past_two_quorum_checks_does_not_depose_itself():
    """Paused or starved of CPU, a leader has heard nothing because it read nothing:
    waking, it runs one check-quorum round, not one per election timeout slept."""
    timeouts = ClusterConfig().timeouts
    ensemble = Ensemble(3, timeouts)
    ensemble.run_until(10_000)
    leader = ensemble.leaders()[0]
    timer = ensemble.timers[leader]
    timer.catch_up(ensemble.now_ms + 3 * timeouts.raft_election_timeout_ms)
    assert ensemble.nodes[leader].role == LEADER


def first_leader_at_ms(ensemble: Ensemble) -> int:
    while not ensemble.leaders():
        ensemble.run_until(ensemble.now_ms + 10)
        assert ensemble.now_ms < 10_000, "no leader in 10 s"
    return ensemble.now_ms


def test_a_fresh_ensemble_elects_after_the_startup_timeout_not_the_long_one():
    """`cluster up` waits for the first election: with the 1.5 s election timeout alone
    it waited 1.5-3 s; until a node has heard of a leader it campaigns after 300-600 ms
    (so a first campaign that splits the vote is retried as soon)."""
    t = ClusterConfig().timeouts
    assert t.raft_startup_election_timeout_ms < t.raft_election_timeout_ms
    for seed in range(1, 21):
        at = first_leader_at_ms(Ensemble(3, t, seed=seed))
        assert at < 4 * t.raft_startup_election_timeout_ms, (seed, at)
    slow = dataclasses.replace(t, raft_startup_election_timeout_ms=t.raft_election_timeout_ms)
    assert first_leader_at_ms(Ensemble(3, slow)) >= t.raft_election_timeout_ms


def test_after_the_first_election_the_long_timeout_applies():
    """The short timeout is only the first: a follower that stops hearing its leader
    later waits the full election timeout (pauses must not cause elections)."""
    t = ClusterConfig().timeouts
    node = RaftNode(1, [1, 2, 3], raft_config(t, 256), random.Random(7))
    ticks = t.raft_election_timeout_ms // t.raft_tick_interval_ms
    startup = t.raft_startup_election_timeout_ms // t.raft_tick_interval_ms
    assert startup <= node.ticks_until_due() < 2 * startup
    node.leader = 2
    node._reset_election_timer()  # what hearing from a leader does
    assert ticks <= node.ticks_until_due() < 2 * ticks

"""Raft safety and liveness under a seeded, faulty network (see raft_sim.py).

A failure prints its seed and the command that replays it exactly."""

import pytest

from tests.sim.raft_sim import STORM, STORM_CONFIG, SafetyViolation, Simulation

STEPS = 3000


@pytest.mark.parametrize("seed", range(1, 41))
def test_three_nodes_stay_safe_and_converge(seed):
    Simulation(seed, 3).run(STEPS)


@pytest.mark.parametrize("seed", range(1, 21))
def test_five_nodes_stay_safe_and_converge(seed):
    Simulation(seed, 5).run(STEPS)


@pytest.mark.parametrize("seed", range(1, 21))
def test_a_storm_of_elections_crashes_and_partitions_stays_safe(seed):
    Simulation(seed, 3, STORM, STORM_CONFIG).run(STEPS)


def test_same_seed_replays_exactly():
    def fingerprint(seed):
        sim = Simulation(seed, 5, STORM, STORM_CONFIG)
        sim.run(1500)
        return sim.leaders, sim.committed, sim.proposals, sim.sequence

    assert fingerprint(11) == fingerprint(11)
    assert fingerprint(11) != fingerprint(12)


def test_the_checkers_catch_a_raft_that_ignores_log_freshness(monkeypatch):
    """A mutant that grants votes without comparing logs must be caught by some seed."""
    from mini_kafka.raft.core import RaftNode

    monkeypatch.setattr(RaftNode, "_log_ok", lambda self, term, index: True)
    caught = []
    for seed in range(1, 30):
        try:
            Simulation(seed, 3).run(STEPS)
        except SafetyViolation as e:
            caught.append(str(e))
    assert caught, "the simulator let an unsafe Raft pass every seed"
    assert any("leader completeness" in c or "state-machine safety" in c for c in caught)

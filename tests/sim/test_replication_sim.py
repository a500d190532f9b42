"""Replication safety under a seeded storm (see replication_sim.py)."""

import pytest

from tests.sim.replication_sim import ReplicationViolation, run_seed


@pytest.mark.parametrize("seed", range(1, 13))
def test_acknowledged_records_survive_crashes_cuts_and_fast_failovers(seed):
    sim = run_seed(seed)
    assert sim.acked, "the storm should still let writes through"
    assert sim._state()["leader_epoch"] >= 5, "the storm should force several failovers"


def test_the_simulation_catches_a_leader_that_acks_before_replicating(monkeypatch):
    from mini_kafka.broker.replica import LeaderState

    def hw_from_the_leader_alone(self):
        if self.leo > self.hw:
            self.hw = self.leo
            return True
        return False

    monkeypatch.setattr(LeaderState, "_update_hw", hw_from_the_leader_alone)
    with pytest.raises(ReplicationViolation):
        for seed in range(1, 4):
            run_seed(seed)

"""Raft's ticks taken from time, lazily — pure; `now_ms` is always passed in.

The core counts time in ticks. Ticking it on a fixed timer wakes every node every tick
even when nothing can happen: a follower that hears its leader never acts on a tick,
and a leader acts only once per heartbeat. Instead the shell asks when the next tick
that does something falls (`next_due_ms`), sleeps until then, and before it hands the
core any input applies the ticks that have passed (`catch_up`), so the core sees time
as a fixed timer would have shown it (save for time overslept, see catch_up), and an
idle node wakes once per heartbeat (a leader) or once per election timeout (a
follower), not once per tick.
"""

from __future__ import annotations

import math

from mini_kafka.config import TimeoutsSection
from mini_kafka.raft.core import RaftConfig, RaftNode


def raft_config(timeouts: TimeoutsSection, max_entries_per_append: int) -> RaftConfig:
    """The configured intervals in ticks of `timeouts.raft_tick_interval_ms`."""
    tick_ms = timeouts.raft_tick_interval_ms
    return RaftConfig(
        election_ticks=max(2, math.ceil(timeouts.raft_election_timeout_ms / tick_ms)),
        startup_election_ticks=max(
            1, math.ceil(timeouts.raft_startup_election_timeout_ms / tick_ms)),
        heartbeat_ticks=max(1, math.ceil(timeouts.raft_heartbeat_interval_ms / tick_ms)),
        max_entries_per_append=max_entries_per_append)


class RaftTimer:
    def __init__(self, raft: RaftNode, tick_ms: int, now_ms: int):
        assert tick_ms > 0, "a tick must last some time"
        self.raft = raft
        self.tick_ms = tick_ms
        self._origin_ms = now_ms
        self._ticked = 0  # ticks since _origin_ms applied (or dropped, see catch_up)

    def catch_up(self, now_ms: int) -> int:
        """Apply the ticks that have passed by `now_ms`; returns how many. Call it before
        each input to the core (a message, a proposal, a read), not only when due: a
        message that resets a timer must find the ticks before it already counted.

        At most one due event's worth: a node that slept far past its due tick (paused,
        or starved of CPU) has not been able to read what its peers sent meanwhile, so
        that time must not count as silence twice over — a leader would otherwise run two
        check-quorum rounds back to back, the second with nobody heard, and step down.
        The rest is dropped, as a fixed ticker that could not run would have lost it."""
        due = max(0, (now_ms - self._origin_ms) // self.tick_ms - self._ticked)
        applied = min(due, self.raft.ticks_until_due())
        for _ in range(applied):
            self.raft.tick()
        self._ticked += due
        return applied

    def next_due_ms(self) -> int:
        """When the next tick that can act falls (on the clock `catch_up` is given)."""
        return self._origin_ms + (self._ticked + self.raft.ticks_until_due()) * self.tick_ms

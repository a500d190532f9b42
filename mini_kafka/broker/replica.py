"""A partition leader's view of its replicas — pure; time comes in as `now_ms`.

It tracks each follower's log end offset (LEO) from its fetches and when it was last
caught up, computes the high watermark (HW), and decides ISR changes, which the shell
sends to the controller (AlterPartition) — the ISR changes only when the controller has
committed it.

Two safety rules, from Kafka:
- HW = the smallest LEO over the *maximal* ISR: the committed ISR plus any member a
  pending expansion would add, so a record never counts as committed on an ISR the
  controller has not confirmed (KIP-497). It never moves backwards.
- A follower joins the ISR only once it holds everything up to the HW and everything
  since this leader's epoch began: it can then lose nothing an election could need.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FollowerProgress:
    leo: int = -1  # unknown until its first fetch in this leader epoch
    last_fetch_ms: int = 0
    last_caught_up_ms: int = 0
    leader_leo_at_last_fetch: int = 0
    last_answered_ms: int = 0  # when a fetch of its that waited here was answered


class LeaderState:
    def __init__(self, broker_id: int, leader_epoch: int, partition_epoch: int,
                 replicas: list[int], isr: list[int], leo: int, hw: int, now_ms: int):
        self.broker_id = broker_id
        self.leader_epoch = leader_epoch
        self.partition_epoch = partition_epoch
        self.replicas = list(replicas)
        self.isr = list(isr)
        self.leo = leo
        self.hw = min(hw, leo)
        self.epoch_start_offset = leo  # the first offset this leader epoch writes
        # Followers in the ISR get a full lag window from the moment we take over.
        self.followers = {r: FollowerProgress(last_caught_up_ms=now_ms, last_fetch_ms=now_ms)
                          for r in replicas if r != broker_id}
        self.pending_isr: list[int] | None = None  # sent to the controller, not committed
        # Followers' fetches this leader holds (long polls) -> how many. One held at our
        # log end is caught up for as long as it waits: an append answers it at once.
        # So a follower of an idle partition fetches rarely and stays in the ISR.
        self.parked: dict[int, int] = {}
        # Alone in the ISR, the leader's log end is committed at once: without this a
        # leader elected alone served a stale HW until some follower fetched.
        self._update_hw()

    # -- inputs ---------------------------------------------------------------------------

    def on_local_append(self, leo: int) -> bool:
        """Our log grew to `leo`. Returns True if the HW moved."""
        self.leo = leo
        return self._update_hw()

    def on_follower_fetch(self, follower: int, fetch_offset: int, now_ms: int) -> bool:
        """A follower fetched from `fetch_offset`: it holds everything below it.
        Returns True if the HW moved."""
        p = self.followers.get(follower)
        if p is None:
            return False  # not a replica (any more): ignore
        p.leo = min(fetch_offset, self.leo)
        if fetch_offset >= self.leo:
            p.last_caught_up_ms = now_ms
        elif fetch_offset >= p.leader_leo_at_last_fetch:
            p.last_caught_up_ms = max(p.last_caught_up_ms, p.last_fetch_ms)
        p.last_fetch_ms = now_ms
        p.leader_leo_at_last_fetch = self.leo
        return self._update_hw()

    def park(self, follower: int) -> bool:
        """A fetch from `follower` is to wait here for something new. Counts only one
        at our log end (a follower behind gets records, it does not wait); returns
        whether it counted, and then `unpark` must follow."""
        p = self.followers.get(follower)
        if p is None or p.leo < self.leo:
            return False
        self.parked[follower] = self.parked.get(follower, 0) + 1
        return True

    def unpark(self, follower: int, now_ms: int) -> None:
        """The held fetch is answered: its follower was caught up until now (an append
        answers it at once), so it gets a full lag window to fetch again."""
        left = self.parked.get(follower, 0) - 1
        if left > 0:
            self.parked[follower] = left
        else:
            self.parked.pop(follower, None)
        p = self.followers.get(follower)
        if p is not None:
            p.last_caught_up_ms = max(p.last_caught_up_ms, now_ms)
            p.last_answered_ms = max(p.last_answered_ms, now_ms)

    def silent_followers(self, now_ms: int, silence_ms: int) -> list[int]:
        """Followers with no fetch waiting here, none received and none answered for
        `silence_ms`: a healthy follower always has one or the other, so its last fetch
        or that fetch's answer was lost (or it is down, which the ISR check handles).
        Only followers that have fetched in this leader epoch: one still opening its
        replica (a large create, an election) is slow, not lost, and asking all of
        them at once would add to the load that makes them slow."""
        return [r for r, p in self.followers.items() if p.leo >= 0
                and not self.parked.get(r)
                and now_ms - max(p.last_fetch_ms, p.last_answered_ms) > silence_ms]

    def on_isr_committed(self, isr: list[int], partition_epoch: int) -> bool:
        """The controller committed an ISR (ours or its own). Returns True if HW moved."""
        self.isr = list(isr)
        self.partition_epoch = partition_epoch
        self.pending_isr = None
        return self._update_hw()

    def on_isr_change_failed(self) -> None:
        self.pending_isr = None

    # -- outputs --------------------------------------------------------------------------

    @property
    def maximal_isr(self) -> list[int]:
        return sorted(set(self.isr) | set(self.pending_isr or []))

    def _update_hw(self) -> bool:
        leos = [self.leo] + [self.followers[r].leo for r in self.maximal_isr
                             if r != self.broker_id and r in self.followers]
        candidate = min(leos)
        if candidate > self.hw:
            self.hw = candidate
            return True
        return False

    def _caught_up_ms(self, follower: int, now_ms: int) -> int:
        p = self.followers[follower]
        if self.parked.get(follower) and p.leo >= self.leo:
            return now_ms  # waiting at our log end: caught up now
        return p.last_caught_up_ms

    def wanted_isr(self, now_ms: int, lag_max_ms: int,
                   ineligible: frozenset[int] = frozenset()) -> list[int] | None:
        """The ISR this leader should ask for now, or None if no change (or one is
        already in flight). `ineligible`: replicas the controller would refuse to add
        (fenced brokers, replicas offline there), left out as Kafka's KIP-841 does: a
        follower that was caught up when its broker died still looks caught up for a
        lag window, and asking for it each time would flood the controller when many
        die at once."""
        if self.pending_isr is not None:
            return None
        keep = [r for r in self.isr if r == self.broker_id
                or now_ms - self._caught_up_ms(r, now_ms) <= lag_max_ms]
        join = [r for r, p in self.followers.items() if r not in self.isr
                and r not in ineligible
                and p.leo >= max(self.hw, self.epoch_start_offset)
                and now_ms - self._caught_up_ms(r, now_ms) <= lag_max_ms]
        wanted = sorted(set(keep) | set(join))
        if self.broker_id not in wanted:
            wanted.append(self.broker_id)
        if sorted(wanted) == sorted(self.isr):
            return None
        return sorted(wanted)

"""When a leader broker may send its next ISR change to the controller — pure.

One AlterPartition write in flight per broker, as Kafka's AlterPartitionManager: changes
that come due meanwhile wait and go together in the next. And after a write that failed
(the controller timed out, or there was none), the next waits a backoff that doubles up
to a bound. Without these, a 5 + 100 cluster whose controller fell behind sent it a new
write from every leader every 500 ms, each retrying the last: 14 000 ISR changes asked
in 90 s, nearly all timing out, and the controller never caught up.
"""

from __future__ import annotations


class IsrGate:
    def __init__(self, backoff_ms: int, backoff_max_ms: int):
        self.backoff_ms = max(1, backoff_ms)
        self.backoff_max_ms = max(self.backoff_ms, backoff_max_ms)
        self.in_flight = False
        self._failures = 0
        self._not_before_ms = 0

    def may_send(self, now_ms: int) -> bool:
        return not self.in_flight and now_ms >= self._not_before_ms

    def sent(self) -> None:
        self.in_flight = True

    def done(self, failed: bool, now_ms: int) -> None:
        self.in_flight = False
        if not failed:
            self._failures = 0
            self._not_before_ms = 0
            return
        self._failures += 1
        wait = min(self.backoff_max_ms, self.backoff_ms * 2 ** (self._failures - 1))
        self._not_before_ms = now_ms + wait

"""How often one broker's held metadata poll may be answered — pure; time is passed in.

Every committed change answers every held poll at once: at 100 brokers a burst of
changes (a 1000-partition create, then its ISR changes) made each coordinator answer
its 20 brokers at every one of hundreds of commits, 1.2 cores of five coordinators for
tens of seconds, and the brokers starved behind them missed their sessions. A poller
answered less than `interval_ms` ago now waits out the rest of the interval, and gets
every change committed meanwhile in one answer. The first change after a quiet spell
(the one a failover waits for) still goes at once.
"""

from __future__ import annotations


class PollPacing:
    def __init__(self, interval_ms: int):
        self.interval_ms = interval_ms
        self._answered_ms: dict[str, int] = {}  # poller -> when it was last answered

    def delay_ms(self, poller: str, now_ms: int) -> int:
        """How long to hold a poll woken by a change before answering it."""
        last = self._answered_ms.get(poller)
        return 0 if last is None else max(0, last + self.interval_ms - now_ms)

    def answered(self, poller: str, now_ms: int) -> None:
        self._answered_ms[poller] = now_ms

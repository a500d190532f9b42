"""Which followers a leader asks to fetch again — pure; time comes in as `now_ms`.

A follower's fetch waits at its leader up to replica_fetch_wait_max_ms (30 s) so that an
idle cluster is idle. A fetch, or its answer, lost on the way (a `loss` fault drops whole
messages, where TCP would only delay them) would leave the follower waiting for an
answer that never comes, for that wait plus the request timeout, and out of the ISR
meanwhile. The leader sees it first: every follower of a healthy pair has a fetch
waiting at the leader, or has just been answered and is sending the next. One silent
for replica_fetch_silence_ms is sent a FETCH_NUDGE (one-way, one per follower broker
however many partitions it follows here, at most once per that interval), and its
fetcher sends its fetch again if the one it has out is older than that
(broker/fetcher.py). An idle healthy cluster sends none.
"""

from __future__ import annotations


class FetchNudges:
    def __init__(self, silence_ms: int):
        self.silence_ms = max(1, silence_ms)
        self._last_ms: dict[int, int] = {}  # follower broker -> when it was last nudged

    def due(self, silent: set[int], now_ms: int) -> list[int]:
        """The followers among `silent` to nudge now; forgets the ones no longer silent."""
        for broker in [b for b in self._last_ms if b not in silent]:
            del self._last_ms[broker]
        due = sorted(b for b in silent
                     if now_ms - self._last_ms.get(b, now_ms - self.silence_ms) >=
                     self.silence_ms)
        for broker in due:
            self._last_ms[broker] = now_ms
        return due

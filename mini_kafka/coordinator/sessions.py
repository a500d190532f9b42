"""Broker sessions on the active controller — pure; `now_ms` is always passed in.

A broker heartbeats; one silent for longer than the session timeout has expired and the
controller proposes to fence it. Sessions are volatile: a newly elected controller has
no record of past heartbeats, so it gives every broker a fresh grace period instead of
fencing the whole cluster at once. The sessions belong to the term they were granted in:
a coordinator that was the controller before keeps its old records, and until its new
term's grace is granted they must expire no one (they did: a controller re-elected after
30 s fenced all 100 brokers of a cluster on its first tick).
"""

from __future__ import annotations


class BrokerSessions:
    def __init__(self, session_timeout_ms: int):
        self.session_timeout_ms = session_timeout_ms
        self._last_seen_ms: dict[int, tuple[int, int]] = {}  # broker -> (epoch, time)
        self.term: int | None = None  # the term of controllership they belong to

    def grant_grace(self, brokers: dict[int, int], now_ms: int, term: int) -> None:
        """brokers: id -> epoch of every unfenced broker, as the new controller sees them."""
        self._last_seen_ms = {b: (epoch, now_ms) for b, epoch in brokers.items()}
        self.term = term

    def heartbeat(self, broker_id: int, epoch: int, now_ms: int) -> None:
        self._last_seen_ms[broker_id] = (epoch, now_ms)

    def credit(self, stalled_ms: int) -> None:
        """The controller could not hear anyone for `stalled_ms`: every session is that
        much younger. A paused broker is still fenced, once the controller listens."""
        self._last_seen_ms = {b: (epoch, seen + stalled_ms)
                              for b, (epoch, seen) in self._last_seen_ms.items()}

    def forget(self, broker_id: int) -> None:
        self._last_seen_ms.pop(broker_id, None)

    def expired(self, now_ms: int, term: int) -> list[tuple[int, int]]:
        """(broker id, epoch) of every session past its timeout; none in a term the
        sessions were not granted in."""
        if term != self.term:
            return []
        return [(b, epoch) for b, (epoch, seen) in sorted(self._last_seen_ms.items())
                if now_ms - seen > self.session_timeout_ms]

    def next_expiry_ms(self, term: int) -> int | None:
        """When the first session runs out (`expired` names it from then on); None
        when there is no session to watch in `term`."""
        if not self._last_seen_ms or term != self.term:
            return None
        return min(seen for _, seen in self._last_seen_ms.values()) + \
            self.session_timeout_ms + 1

"""Which brokers the controller fences in its next write — pure.

When many brokers die at once (a rack, a SIGKILL of ten), their losses reach the
controller one by one, a few milliseconds apart. Proposing a write per broker would
re-lead the same partitions again and again, each time maybe onto a broker whose own
fence is next in line. So one fence write is in flight at a time, and the fences decided
while it commits wait for it and then go together, in one `fence_brokers` command.
"""

from __future__ import annotations


class FenceBatcher:
    def __init__(self):
        self._pending: dict[int, int] = {}  # broker id -> the epoch to fence
        self._in_flight: dict[int, int] = {}

    def add(self, broker_id: int, epoch: int) -> bool:
        """Decide to fence a broker's incarnation; False when that is already decided."""
        if self._in_flight.get(broker_id) == epoch or self._pending.get(broker_id) == epoch:
            return False
        self._pending[broker_id] = epoch
        return True

    def take(self) -> list[dict[str, int]] | None:
        """The next write's brokers, or None: one is still in flight, or nothing waits."""
        if self._in_flight or not self._pending:
            return None
        self._in_flight, self._pending = self._pending, {}
        return [{"broker_id": b, "broker_epoch": e} for b, e in sorted(self._in_flight.items())]

    def done(self) -> None:
        """The write in flight committed or failed; the next may be taken."""
        self._in_flight = {}

    @property
    def waiting(self) -> list[int]:
        return sorted(self._pending)

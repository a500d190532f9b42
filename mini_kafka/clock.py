"""Injected time. Pure cores never read the clock; shells pass them `now_ms` values taken
from one of these, and tests pass a ManualClock they advance by hand.

(The blueprint places the clock under transport/; it lives here because storage and the
cores need it too, and importing transport/ means importing zmq.)
"""

from __future__ import annotations

import time


class SystemClock:
    def monotonic_ms(self) -> int:
        """For timeouts and intervals: never jumps."""
        return time.monotonic_ns() // 1_000_000

    def wall_ms(self) -> int:
        """For record timestamps and retention: milliseconds since the Unix epoch."""
        return time.time_ns() // 1_000_000


class ManualClock:
    def __init__(self, start_ms: int = 1_700_000_000_000):
        self._now_ms = start_ms

    def monotonic_ms(self) -> int:
        return self._now_ms

    def wall_ms(self) -> int:
        return self._now_ms

    def advance(self, ms: int) -> None:
        assert ms >= 0, "time does not run backwards"
        self._now_ms += ms

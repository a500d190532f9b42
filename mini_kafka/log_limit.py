"""Log lines at a bounded rate: bad input from outside (RateLimitedLog), or a problem
that repeats many times a second (RepeatLimitedLog), must not be able to fill the disk
or drown the lines that matter. Pure but for the logger call; time is injected."""

from __future__ import annotations

import logging
from collections.abc import Hashable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, clock, lines_per_interval: int = 10,
                 interval_ms: int = 10_000):
        self.logger = logger
        self.clock = clock
        self.lines_per_interval = lines_per_interval
        self.interval_ms = interval_ms
        self._window_start = None
        self._lines = 0
        self._suppressed = 0

    def warning(self, message: str, *args) -> bool:
        """Log unless this interval's budget is spent; returns whether it was logged."""
        now = self.clock.monotonic_ms()
        if self._window_start is None or now - self._window_start >= self.interval_ms:
            if self._suppressed:
                self.logger.warning("(%d similar line(s) suppressed in the last %d ms)",
                                    self._suppressed, self.interval_ms)
            self._window_start, self._lines, self._suppressed = now, 0, 0
        if self._lines >= self.lines_per_interval:
            self._suppressed += 1
            return False
        self._lines += 1
        self.logger.warning(message, *args)
        return True


class RepeatLimitedLog:
    """A problem that repeats (a stalled follower, a full disk, a peer sending garbage)
    logged once per interval per problem, not once per occurrence: the first occurrence
    at once, later ones in the interval counted and the count reported with the next line
    that gets through. `suppressed` keeps the count per problem since the start (a node's
    status shows the transport's)."""

    def __init__(self, logger: logging.Logger, interval_ms: int, clock):
        self.logger = logger
        self.interval_ms = interval_ms
        self.clock = clock
        self._last_ms: dict[Hashable, int] = {}
        self._held: dict[Hashable, int] = {}
        self.suppressed: dict[Hashable, int] = {}

    def log(self, level: int, key: Hashable, msg: str, *args,
            logger: logging.Logger | None = None, exc_info: bool = False) -> bool:
        """Log `msg % args` (to `logger` if given, for one limiter shared by several
        modules) unless `key` was logged less than an interval ago; True if written."""
        now = self.clock.monotonic_ms()
        last = self._last_ms.get(key)
        if last is not None and now - last < self.interval_ms:
            self._held[key] = self._held.get(key, 0) + 1
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self._last_ms[key] = now
        held = self._held.pop(key, 0)
        if held:
            msg += " (%d more like this since the last report)"
            args = (*args, held)
        (logger or self.logger).log(level, msg, *args, exc_info=exc_info)
        return True

    def forget(self, key: Hashable) -> None:
        """The problem went away: its next occurrence is news again."""
        self._last_ms.pop(key, None)
        self._held.pop(key, None)

"""Whether the coordinator a broker follows metadata from has stopped following — pure.

A broker long-polls one coordinator for metadata; the poll returns as soon as that
coordinator applies something new, so an idle poll can wait long (a poll is a wakeup of
the broker and the coordinator: fewer of them is what makes an idle cluster idle). But a
reader that is paused, or cut off from the Raft leader, answers nothing new however long
it is asked, and a broker waiting on it serves stale leaders. The heartbeat tells the
broker how far the controller has applied; a broker that stays behind an offset the
controller reported for `lag_max_ms` is on a reader that is not following, and moves to
the next coordinator. So the poll's wait bounds nothing; this bounds staleness.
"""

from __future__ import annotations


class ReaderWatch:
    def __init__(self, lag_max_ms: int):
        self.lag_max_ms = lag_max_ms
        self._behind: tuple[int, int] | None = None  # (controller's offset, first seen ms)

    def heartbeat(self, controller_offset: int, own_offset: int, now_ms: int) -> bool:
        """A heartbeat's answer: True when the reader should be given up."""
        if own_offset >= controller_offset:
            self._behind = None
            return False
        if self._behind is None or own_offset >= self._behind[0]:
            # Behind, but what was behind before has arrived: the reader follows.
            self._behind = (controller_offset, now_ms)
            return False
        if now_ms - self._behind[1] < self.lag_max_ms:
            return False
        self._behind = None
        return True

"""A broker's periodic jobs on one timer — pure; `now_ms` is always passed in.

A timer per job (ISR checks, HW checkpoints, offline retries, retention) woke an idle
broker for each of them apart. Here each job keeps its own interval, and one loop sleeps
until the soonest is due, running every job that is due then; jobs whose intervals are
multiples of each other (500 ms and 1 s) share their wake-ups.
"""

from __future__ import annotations

from collections.abc import Callable


class PeriodicJobs:
    def __init__(self, jobs: list[tuple[int, Callable[[], None]]], now_ms: int):
        self._jobs = [(max(1, interval_ms), work) for interval_ms, work in jobs]
        self._due_ms = [now_ms + interval for interval, _ in self._jobs]

    def next_due_ms(self) -> int:
        return min(self._due_ms)

    def take_due(self, now_ms: int) -> list[Callable[[], None]]:
        """The jobs due by `now_ms`, each rescheduled one interval from now."""
        due = []
        for i, (interval, work) in enumerate(self._jobs):
            if self._due_ms[i] <= now_ms:
                self._due_ms[i] = now_ms + interval
                due.append(work)
        return due

"""The console's memory: the latest snapshot, the timeline, the rates and lag curves over
the history window — pure. Fed one snapshot per refresh; read as the JSON the page shows.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from mini_kafka.console import timeline, views
from mini_kafka.console.series import TRAFFIC, Series, cpu_percent, rates
from mini_kafka.console.snapshot import Snapshot

CURVE_POINTS_MAX = 240  # per series sent to the page: about a point a pixel in a chart


class ConsoleState:
    def __init__(self, *, history_ms: int, events_max: int, min_insync_default: int):
        self.history_ms = history_ms
        self.min_insync_default = min_insync_default
        self.snapshot: Snapshot | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=events_max)
        self.rates = {key: Series(history_ms) for key in TRAFFIC}
        self.cpu: dict[str, float] = {}
        self._lag: dict[str, dict[str, Series]] = {}  # group -> "t/p" or "" (total) -> lag
        self.version = 0  # bumped by every update, for the pages that wait on it

    def update(self, snap: Snapshot) -> list[dict[str, Any]]:
        """Take in a new snapshot; returns the events it brought."""
        prev = self.snapshot
        groups_read = snap.groups is not None
        if not groups_read and prev is not None:
            snap.groups = prev.groups  # a failed read (its error is shown) keeps the last
        new = timeline.changes(prev, snap)
        self.events.extend(sorted(new, key=lambda e: e["at_ms"]))
        while self.events and self.events[0]["at_ms"] < snap.at_ms - self.history_ms:
            self.events.popleft()
        if prev is not None:
            per_s = rates(prev, snap)
            if per_s is not None:
                for key, value in per_s.items():
                    self.rates[key].add(snap.at_ms, round(value, 1))
        self.cpu = cpu_percent(prev, snap)
        if groups_read:
            self._add_lags(snap)
        self.snapshot = snap
        self.version += 1
        return new

    def _add_lags(self, snap: Snapshot) -> None:
        for group, lags in views.group_lags(snap).items():
            series = self._lag.setdefault(group, {})
            known = [lag for lag in lags.values() if lag is not None]
            for key, lag in [("", sum(known) if known else None), *lags.items()]:
                if lag is not None:
                    series.setdefault(key, Series(self.history_ms)).add(snap.at_ms, lag)
        horizon = snap.at_ms - self.history_ms
        for group in [g for g, s in self._lag.items()
                      if all(not x.points or x.points[-1][0] < horizon for x in s.values())]:
            del self._lag[group]

    def lag_history(self) -> dict[str, Any]:
        return {group: {"total": s[""].sampled(CURVE_POINTS_MAX) if "" in s else [],
                        "partitions": {k: v.sampled(CURVE_POINTS_MAX)
                                       for k, v in s.items() if k}}
                for group, s in self._lag.items()}

    # -- the views ------------------------------------------------------------------------

    def cluster(self) -> dict[str, Any]:
        snap = self._snap()
        return {**self._head(snap), **views.cluster_view(snap, self.cpu)}

    def topics(self) -> dict[str, Any]:
        snap = self._snap()
        return {**self._head(snap),
                "topics": views.topics_view(snap, self.min_insync_default)}

    def groups(self) -> dict[str, Any]:
        snap = self._snap()
        return {**self._head(snap), "groups": views.groups_view(snap, self.lag_history())}

    def timeline(self) -> dict[str, Any]:
        snap = self._snap()
        return {**self._head(snap), "history_ms": self.history_ms,
                "events": sorted(self.events, key=lambda e: e["at_ms"]),
                "rates": {k: s.sampled(CURVE_POINTS_MAX) for k, s in self.rates.items()}}

    def faults(self) -> dict[str, Any]:
        snap = self._snap()
        return {**self._head(snap), "faults": views.faults_view(snap)}

    def everything(self) -> dict[str, Any]:
        """What the live stream sends: every view at once."""
        return {**self._head(self._snap()), "cluster": self.cluster(), "topics": self.topics(),
                "groups": self.groups(), "timeline": self.timeline(), "faults": self.faults()}

    def _snap(self) -> Snapshot:
        return self.snapshot if self.snapshot is not None else Snapshot(at_ms=0, running=False)

    def _head(self, snap: Snapshot) -> dict[str, Any]:
        return {"at_ms": snap.at_ms, "running": snap.running, "errors": snap.errors,
                "version": self.version}

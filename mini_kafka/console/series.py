"""Time series the console keeps over its history window — pure: rates from cumulative
counters, CPU from CPU time, lag over time."""

from __future__ import annotations

from collections import deque

from mini_kafka.console.snapshot import Snapshot

TRAFFIC = ("produced_records", "produced_bytes", "fetched_records", "fetched_bytes")


class Series:
    """(at_ms, value) points no older than `window_ms` behind the newest."""

    def __init__(self, window_ms: int):
        self.window_ms = window_ms
        self.points: deque[tuple[int, float]] = deque()

    def add(self, at_ms: int, value: float) -> None:
        self.points.append((at_ms, value))
        while self.points and self.points[0][0] < at_ms - self.window_ms:
            self.points.popleft()

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def sampled(self, max_points: int) -> list[list[float]]:
        """At most `max_points` points, evenly picked, the newest always among them."""
        pts = list(self.points)
        if len(pts) > max_points:
            step = len(pts) / max_points
            pts = [pts[int(i * step)] for i in range(max_points - 1)] + [pts[-1]]
        return [[t, v] for t, v in pts]


def rates(prev: Snapshot, cur: Snapshot) -> dict[str, float] | None:
    """The cluster's client traffic per second between two snapshots, over the brokers
    seen in both by the same process (a restarted broker's counters start again)."""
    dt_s = (cur.at_ms - prev.at_ms) / 1000
    if dt_s <= 0:
        return None
    out = dict.fromkeys(TRAFFIC, 0.0)
    for node in cur.nodes:
        before = prev.node(node.name)
        now_t, then_t = node.info.get("traffic"), before.info.get("traffic") if before else None
        if node.role != "broker" or not now_t or not then_t or before.pid != node.pid:
            continue
        for key in TRAFFIC:
            out[key] += max(0, now_t.get(key, 0) - then_t.get(key, 0)) / dt_s
    return out


def cpu_percent(prev: Snapshot | None, cur: Snapshot) -> dict[str, float]:
    """Each node's CPU use between two snapshots, in percent of one core."""
    out = {}
    if prev is None or cur.at_ms <= prev.at_ms:
        return out
    for node in cur.nodes:
        before = prev.node(node.name)
        if before is None or before.pid != node.pid or node.cpu_s is None \
                or before.cpu_s is None:
            continue
        out[node.name] = round(100 * (node.cpu_s - before.cpu_s) * 1000
                               / (cur.at_ms - prev.at_ms), 1)
    return out

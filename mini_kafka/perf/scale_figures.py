"""The pure parts of `mini-kafka perf scale`: its settings and their checks, leader
spread, which brokers can die together without a partition losing acks=all, and the
table with the issue's targets beside the figures."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

from mini_kafka.config import BrokersSection, CoordinatorsSection
from mini_kafka.coordinator.state import PARTITIONS_MAX


def _count_max(section) -> int:
    return next(f.metadata["hi"] for f in fields(section) if f.name == "count")


REPLICATION_FACTOR = 3
BROKERS_MAX = _count_max(BrokersSection)
COORDINATORS_MAX = _count_max(CoordinatorsSection)
# The issue's sizes: only a run at these sizes is judged against its targets.
ISSUE_SIZES = {"coordinators": 5, "brokers": 100, "partitions": 1000, "kill": 10}


class ScaleError(ValueError):
    """The settings cannot make a meaningful run, or the cluster cannot take the kill."""


@dataclass(frozen=True)
class ScaleSettings:
    coordinators: int = ISSUE_SIZES["coordinators"]
    brokers: int = ISSUE_SIZES["brokers"]
    partitions: int = ISSUE_SIZES["partitions"]
    kill: int = ISSUE_SIZES["kill"]
    settle_s: float = 5.0  # after start-up, before the idle window
    idle_window_s: float = 10.0
    timeout_s: float = 60.0  # each measurement's deadline
    keep_dir: str | None = None  # run the cluster here and leave its data and logs

    def check(self) -> None:
        """Raise ScaleError naming the first flag that is out of range."""
        if not 1 <= self.coordinators <= COORDINATORS_MAX or self.coordinators % 2 == 0:
            raise ScaleError(f"--coordinators {self.coordinators}: an odd number from 1 to "
                             f"{COORDINATORS_MAX} (a Raft majority)")
        if not REPLICATION_FACTOR <= self.brokers <= BROKERS_MAX:
            raise ScaleError(f"--brokers {self.brokers}: from {REPLICATION_FACTOR} (the "
                             f"topic's replication factor) to {BROKERS_MAX}")
        if not 1 <= self.partitions <= PARTITIONS_MAX:
            raise ScaleError(f"--partitions {self.partitions}: from 1 to {PARTITIONS_MAX}")
        if not 0 <= self.kill < self.brokers:
            raise ScaleError(f"--kill {self.kill}: from 0 to {self.brokers - 1} with "
                             f"{self.brokers} brokers")
        kept = Path(self.keep_dir) if self.keep_dir is not None else None
        if kept is not None and kept.exists() and (not kept.is_dir() or any(kept.iterdir())):
            raise ScaleError(f"--keep-dir {self.keep_dir}: not a new or empty directory (a "
                             "run keeps its cluster there)")
        for flag, value in (("--settle", self.settle_s), ("--idle-window", self.idle_window_s),
                            ("--timeout", self.timeout_s)):
            if not value >= 0 or (flag != "--settle" and value == 0):
                raise ScaleError(f"{flag} {value:g}: must be positive"
                                 + (" or 0" if flag == "--settle" else ""))

    @property
    def issue_sized(self) -> bool:
        return all(getattr(self, k) == v for k, v in ISSUE_SIZES.items())


# -- leaders ------------------------------------------------------------------------------

def leader_counts(partitions: Iterable[dict], brokers: Iterable[int]) -> dict[int, int]:
    """Partitions led by each of `brokers` (0 for a broker that leads none)."""
    counts = Counter(p["leader"] for p in partitions)
    return {b: counts.get(b, 0) for b in brokers}


def leader_spread(partitions: list[dict], brokers: list[int]) -> float:
    """The most partitions one broker leads over the average per broker: 1.0 is perfectly
    even; Kafka's preferred-leader election aims at it."""
    if not partitions or not brokers:
        raise ScaleError("leader spread needs partitions and brokers")
    return max(leader_counts(partitions, brokers).values()) / (len(partitions) / len(brokers))


def choose_victims(partitions: list[dict], brokers: list[int], count: int,
                   may_lose: int) -> list[int]:
    """`count` brokers that can die together while every partition keeps all but at most
    `may_lose` of its replicas (replication factor - min.insync.replicas: then acks=all
    writes can resume everywhere). Brokers that lead the most partitions first, so the
    kill moves as many leaders as it can."""
    lost = Counter()
    chosen: list[int] = []
    hosted: dict[int, list[str]] = {b: [] for b in brokers}
    for p in partitions:
        for r in p["replicas"]:
            hosted.setdefault(r, []).append(f"{p['topic']}/{p['partition']}")
    leads = leader_counts(partitions, brokers)
    for b in sorted(brokers, key=lambda b: (-leads[b], b)):
        if len(chosen) == count:
            break
        if all(lost[key] < may_lose for key in hosted[b]):
            chosen.append(b)
            lost.update(hosted[b])
    if len(chosen) < count:
        raise ScaleError(f"cannot kill {count} brokers at once without a partition losing "
                         f"more than {may_lose} of its replicas; this placement allows "
                         f"{len(chosen)} (ask for fewer with --kill, or more --brokers)")
    return sorted(chosen)


def isr_whole(partitions: Iterable[dict]) -> bool:
    return all(set(p["isr"]) == set(p["replicas"]) for p in partitions)


def led_by(partitions: Iterable[dict], live: set[int]) -> bool:
    return all(p["leader"] in live for p in partitions)


def preferred_led(partitions: Iterable[dict]) -> bool:
    return all(p["leader"] == p["replicas"][0] for p in partitions)


def median_max(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)


# -- the table ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    text: str
    met: Callable[[float], bool]


TARGETS = {
    "up": Target("< 20 s", lambda v: v < 20),
    "idle": Target("< 0.3 core", lambda v: v < 0.3),
    "broker_rss": Target("< 30 MB each", lambda v: v < 30),
    "create": Target("< 2 s", lambda v: v < 2),
    "spread": Target("<= 1.5x", lambda v: v <= 1.5),
    "led": Target("< 2 s", lambda v: v < 2),
    "resume": Target("resume", lambda v: True),  # met when it happened at all
    "left": Target("0", lambda v: v == 0),
}


@dataclass
class Row:
    measurement: str
    figure: str
    target: str = ""  # a key of TARGETS
    value: float | None = None  # what the target judges; None: not measured (timed out)

    def verdict(self) -> str:
        if not self.target:
            return ""
        if self.value is None:
            return "no"
        return "yes" if TARGETS[self.target].met(self.value) else "no"


@dataclass
class ScaleReport:
    settings: ScaleSettings
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how to read the figures
    problems: list[str] = field(default_factory=list)  # what failed, beside a timeout

    def add(self, measurement: str, figure: str, target: str = "",
            value: float | None = None) -> None:
        self.rows.append(Row(measurement, figure, target, value))

    def timed_out(self, measurement: str, target: str = "") -> None:
        self.add(measurement, f"not within {self.settings.timeout_s:g} s", target)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(r.figure.startswith("not within")
                                          for r in self.rows)

    def format(self) -> str:
        """A markdown table; the targets' verdicts only for a run at the issue's sizes,
        which is what they are set for."""
        judged = self.settings.issue_sized
        header = ["measurement", "figure", "issue target (5 + 100, 1000 partitions, kill 10)"]
        if judged:
            header.append("met")
        cells = [header]
        for r in self.rows:
            row = [r.measurement, r.figure, TARGETS[r.target].text if r.target else ""]
            if judged:
                row.append(r.verdict())
            cells.append(row)
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(header))) + " |"
                 for c in cells]
        lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
        return "\n".join(lines + [""] * bool(self.notes or self.problems)
                         + [f"- {n}" for n in self.notes]
                         + [f"- failed: {p}" for p in self.problems])

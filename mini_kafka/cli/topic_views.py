"""What `topic describe` shows of many partitions: the filters (Kafka's
--under-replicated-partitions and --unavailable-partitions, and one broker's share) and a
one-line summary that stays readable at a hundred brokers; and what `topic
rebalance-leaders` reports. Pure: topics (or an election's result) in, rows out."""

from __future__ import annotations

from collections import Counter


def select(partitions: list[dict], under_replicated: bool = False, unavailable: bool = False,
           broker: int | None = None) -> list[dict]:
    """The partitions every given filter keeps."""
    out = []
    for p in partitions:
        if under_replicated and len(p["isr"]) >= len(p["replicas"]):
            continue
        if unavailable and p["leader"] >= 0:
            continue
        if broker is not None and broker not in p["replicas"]:
            continue
        out.append(p)
    return out


def summary(topics: list[dict]) -> str:
    """E.g. '2 topic(s), 1000 partition(s): 0 under-replicated, 0 without a leader;
    leaders per broker 95-105 over 100 brokers (most: broker 7)'. A broker that holds
    replicas but leads none counts as 0, so a lopsided election shows."""
    parts = [p for t in topics for p in t["partitions"]]
    line = (f"{len(topics)} topic(s), {len(parts)} partition(s): "
            f"{len(select(parts, under_replicated=True))} under-replicated, "
            f"{len(select(parts, unavailable=True))} without a leader")
    brokers = {b for p in parts for b in p["replicas"]}
    if not brokers:
        return line
    leaders = Counter({b: 0 for b in brokers})
    leaders.update(p["leader"] for p in parts if p["leader"] >= 0)
    busiest, most = max(sorted(leaders.items()), key=lambda item: item[1])
    return (f"{line}; leaders per broker {min(leaders.values())}-{most} over "
            f"{len(brokers)} broker(s) (most: broker {busiest})")


def election_report(result: dict) -> tuple[list[str], int]:
    """A preferred leader election's result (Admin.elect_preferred_leaders) as lines, a
    count line first, and how many partitions could not be moved."""
    parts = result["partitions"]
    moved = [p for p in parts if p["error"] == "NONE"]
    stuck = [p for p in parts if p["error"] == "PREFERRED_LEADER_NOT_AVAILABLE"]
    there = result.get("not_needed", 0) + sum(p["error"] == "ELECTION_NOT_NEEDED" for p in parts)
    lines = [f"moved {len(moved)} leader(s) to their preferred replica; {len(stuck)} not "
             f"movable (preferred replica not in the ISR, or down); {there} already there"]
    for p in moved:
        was = p["previous_leader"] if p["previous_leader"] >= 0 else "none"
        lines.append(f"\t{p['topic']}/{p['partition']}: leader {was} -> {p['preferred']}")
    for p in stuck:
        lines.append(f"\t{p['topic']}/{p['partition']}: not movable, preferred broker "
                     f"{p['preferred']} is out of the ISR or down")
    return lines, len(stuck)

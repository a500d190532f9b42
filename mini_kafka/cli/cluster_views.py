"""What `cluster status` shows of many nodes: a summary line first (coordinators and the
controller, brokers by condition, partitions in trouble), then the nodes a filter keeps.
Pure: node statuses (launcher.cluster.NodeStatus) and the metadata image in, text out."""

from __future__ import annotations

from collections import Counter

NAMES_SHOWN_MAX = 5  # past this, a condition's brokers are counted, not named


def condition(s, brokers: dict | None) -> str:
    """A node's condition in one word: "up" (and, for a broker, registered and
    unfenced), else what keeps it from serving: its process state (dead, unresponsive,
    starting), or "fenced", or "unregistered"."""
    if s.state != "up":
        return s.state
    if s.role != "broker" or brokers is None:
        return "up"
    registered = brokers.get(broker_id(s.name))
    if registered is None:
        return "unregistered"
    return "fenced" if registered["fenced"] else "up"


def broker_id(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def select(statuses: list, brokers: dict | None, role: str | None = None,
           down: bool = False) -> list:
    """The nodes every given filter keeps: of one role; not up (see condition)."""
    return [s for s in statuses if (role is None or s.role == role) and
            (not down or condition(s, brokers) != "up")]


def summary(statuses: list, image) -> str:
    """E.g. '3 coordinators: 3 up, controller coordinator-2 (term 4); 100 brokers: 98
    up, 2 dead (broker-7, broker-9); 1000 partitions: 31 under-replicated, 0 offline'."""
    brokers = image.brokers if image is not None else None
    parts = []
    for role in ("coordinator", "broker"):
        nodes = [s for s in statuses if s.role == role]
        if not nodes:
            continue
        text = f"{_count(len(nodes), role)}: {_conditions(nodes, brokers)}"
        if role == "coordinator":
            leaders = [s for s in nodes if s.info.get("raft_role") == "leader"]
            if leaders:
                leader = max(leaders, key=lambda s: s.info["term"])
                text += f", controller {leader.name} (term {leader.info['term']})"
            else:
                text += ", no controller"
        parts.append(text)
    if image is None:
        parts.append("metadata unavailable (no coordinator answered)")
    else:
        partitions = list(image.partitions.values())
        short = sum(len(p["isr"]) < len(p["replicas"]) for p in partitions)
        offline = sum(p["leader"] < 0 for p in partitions)
        parts.append(f"{_count(len(partitions), 'partition')}: {short} under-replicated, "
                     f"{offline} offline")
    return "; ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _conditions(nodes: list, brokers: dict | None) -> str:
    """'98 up, 2 dead (broker-7, broker-9)': up first, then the rest, most first."""
    by_condition: dict[str, list[str]] = {}
    for s in nodes:
        by_condition.setdefault(condition(s, brokers), []).append(s.name)
    counts = Counter({c: len(names) for c, names in by_condition.items()})
    out = [f"{counts.pop('up', 0)} up"]
    for c, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        names = by_condition[c]
        shown = ", ".join(names[:NAMES_SHOWN_MAX])
        if len(names) > NAMES_SHOWN_MAX:
            shown += f", ... {len(names) - NAMES_SHOWN_MAX} more"
        out.append(f"{n} {c} ({shown})")
    return ", ".join(out)

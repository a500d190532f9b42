"""What happened between two snapshots — pure: node deaths and returns, controller
changes, brokers fenced and unfenced, leader elections, ISR shrinks and expansions,
topics created and deleted, and the chaos faults injected (from the launcher's log).

Changes derived from snapshots carry the later snapshot's time: the console sees them
within one refresh interval of when they were committed. One event per kind and cause
per snapshot: a broker's death shrinks many ISRs at once, and that is one story.
"""

from __future__ import annotations

from typing import Any

from mini_kafka.console.snapshot import Snapshot
from mini_kafka.metadata import NO_LEADER, MetadataImage

Event = dict[str, Any]


def event(at_ms: int, kind: str, text: str, *, nodes=(), details=(), **extra) -> Event:
    return {"at_ms": at_ms, "kind": kind, "text": text, "nodes": list(nodes),
            "details": list(details), **extra}


def changes(prev: Snapshot | None, cur: Snapshot) -> list[Event]:
    out = [chaos_event(e) for e in cur.chaos]
    if prev is None:
        return out
    out += _nodes(prev, cur)
    out += _controller(prev, cur)
    if prev.metadata is not None and cur.metadata is not None:
        out += _metadata(prev.metadata, cur.metadata, cur.at_ms)
    return out


def chaos_event(e: dict[str, Any]) -> Event:
    nodes = [n for n in e.get("nodes") or [] if isinstance(n, str)]
    op = e["op"]
    what = {"kill": f"killed ({e.get('signal', 'SIGKILL')})", "pause": "paused",
            "resume": "resumed",
            "restart": f"restarted in {e['took_ms'] / 1000:.1f} s" if isinstance(
                e.get("took_ms"), int) else "restarted",
            "partition": f"cut off ({e.get('links_cut', '?')} links)",
            "delay": f"delayed {e.get('ms')} ms", "loss": f"losing {e.get('rate')} of traffic",
            "heal": "healed"}.get(op, op)
    target = ", ".join(nodes) or ("no running node" if op == "heal" else "")
    return event(e["at_ms"], "chaos", f"chaos: {target} {what}".replace("  ", " "),
                 nodes=nodes, op=op, by=e.get("by", "?"))


def _nodes(prev: Snapshot, cur: Snapshot) -> list[Event]:
    out = []
    for node in cur.nodes:
        before = prev.node(node.name)
        if before is None or before.state == node.state:
            if before is not None and node.pid != before.pid and node.state == "up":
                out.append(event(cur.at_ms, "node", f"{node.name} restarted (pid {node.pid})",
                                 nodes=[node.name]))
            continue
        text = {"dead": f"{node.name} is dead", "paused": f"{node.name} is paused",
                "unresponsive": f"{node.name} stopped answering",
                "starting": f"{node.name} is starting",
                "up": f"{node.name} is up (pid {node.pid})"}[node.state]
        out.append(event(cur.at_ms, "node", text, nodes=[node.name], state=node.state))
    return out


def _controller(prev: Snapshot, cur: Snapshot) -> list[Event]:
    before, now = prev.controller, cur.controller
    if (before and before[0]) == (now and now[0]):
        return []
    if now is None:
        return [event(cur.at_ms, "controller", "no controller: no coordinator leads")]
    was = f" (was {before[0]})" if before else ""
    return [event(cur.at_ms, "controller", f"controller is {now[0]}, term {now[1]}{was}",
                  nodes=[now[0]])]


def _metadata(a: MetadataImage, b: MetadataImage, at_ms: int) -> list[Event]:
    out = []
    for bid in sorted(set(a.brokers) | set(b.brokers)):
        x, y = a.brokers.get(bid), b.brokers.get(bid)
        name = f"broker-{bid}"
        if y is None:
            continue
        if x is None:
            out.append(event(at_ms, "fencing", f"broker {bid} registered", nodes=[name]))
        elif x["fenced"] != y["fenced"]:
            out.append(event(at_ms, "fencing", f"broker {bid} "
                             f"{'fenced' if y['fenced'] else 'unfenced'} (epoch {y['epoch']})",
                             nodes=[name], fenced=y["fenced"]))
    created = sorted(set(b.topics) - set(a.topics))
    deleted = sorted(set(a.topics) - set(b.topics))
    if created:
        out.append(event(at_ms, "topic", f"topic(s) created: {', '.join(created)}"))
    if deleted:
        out.append(event(at_ms, "topic", f"topic(s) deleted: {', '.join(deleted)}"))
    elections, offline, shrinks, expands = [], [], {}, {}
    for key in sorted(b.partitions):
        x, y = a.partitions.get(key), b.partitions[key]
        if x is None:
            continue
        if x["leader"] != y["leader"]:
            if y["leader"] == NO_LEADER:
                offline.append(f"{key} (leader was {x['leader']})")
            else:
                was = "none" if x["leader"] == NO_LEADER else x["leader"]
                elections.append(f"{key}: {was} → {y['leader']} (epoch {y['leader_epoch']})")
        for bid in sorted(set(x["isr"]) - set(y["isr"])):
            shrinks.setdefault(bid, []).append(f"{key}: {x['isr']} → {y['isr']}")
        for bid in sorted(set(y["isr"]) - set(x["isr"])):
            expands.setdefault(bid, []).append(f"{key}: {x['isr']} → {y['isr']}")
    if elections:
        out.append(event(at_ms, "election", f"leader election: {_count(elections)}",
                         details=elections))
    if offline:
        out.append(event(at_ms, "offline", f"offline: {_count(offline)} without a leader",
                         details=offline))
    for bid, items in shrinks.items():
        out.append(event(at_ms, "isr_shrink", f"ISR shrink: broker {bid} left the ISR of "
                         f"{_count(items)}", nodes=[f"broker-{bid}"], details=items))
    for bid, items in expands.items():
        out.append(event(at_ms, "isr_expand", f"ISR expand: broker {bid} rejoined the ISR of "
                         f"{_count(items)}", nodes=[f"broker-{bid}"], details=items))
    return out


def _count(items: list) -> str:
    return f"{len(items)} partition{'s' if len(items) != 1 else ''}"

"""Partition assignors, run by the group leader in the client (pure functions).

Each takes the members' subscriptions — {member_id: {"topics": [...], "owned": [[t, p]]}}
— and the partition count of every subscribed topic, and returns
{member_id: [(topic, partition), ...]}. Members beyond the partition count get nothing.

- range: per topic, consecutive runs of partitions to members in member-id order (Kafka's
  RangeAssignor: the first `partitions % members` members get one more).
- roundrobin: every partition of every topic, in order, dealt around the members.
- cooperative-sticky: balanced, keeping what each member owns (KIP-429). A partition
  moving from one live owner to another is left out of this round: its owner revokes it
  and rejoins, and the next round hands it over, so no partition is ever owned twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

TP = tuple[str, int]
Subscriptions = Mapping[str, Mapping]
Assignment = dict[str, list[TP]]


def _subscribed(subs: Subscriptions, topic: str) -> list[str]:
    return sorted(m for m, s in subs.items() if topic in s["topics"])


def _all_partitions(subs: Subscriptions, counts: Mapping[str, int]) -> list[TP]:
    topics = sorted({t for s in subs.values() for t in s["topics"] if t in counts})
    return [(t, p) for t in topics for p in range(counts[t])]


def range_assign(subs: Subscriptions, counts: Mapping[str, int]) -> Assignment:
    out: Assignment = {m: [] for m in subs}
    for topic in sorted({t for s in subs.values() for t in s["topics"] if t in counts}):
        members = _subscribed(subs, topic)
        each, extra = divmod(counts[topic], len(members))
        start = 0
        for i, m in enumerate(members):
            n = each + (1 if i < extra else 0)
            out[m].extend((topic, p) for p in range(start, start + n))
            start += n
    return out


def roundrobin_assign(subs: Subscriptions, counts: Mapping[str, int]) -> Assignment:
    out: Assignment = {m: [] for m in subs}
    members = sorted(subs)
    i = 0
    for topic, p in _all_partitions(subs, counts):
        while topic not in subs[members[i % len(members)]]["topics"]:
            i += 1
        out[members[i % len(members)]].append((topic, p))
        i += 1
    return out


def cooperative_sticky_assign(subs: Subscriptions, counts: Mapping[str, int]) -> Assignment:
    partitions = _all_partitions(subs, counts)
    valid = set(partitions)
    members = sorted(subs)
    low, extra = divmod(len(partitions), len(members))
    out: Assignment = {m: [] for m in members}
    owner: dict[TP, str] = {}
    at_high = 0
    # Keep what members own, up to their fair share (at most `extra` may hold one more).
    for m in sorted(members, key=lambda m: -len(subs[m].get("owned", []))):
        kept = sorted(tp for tp in map(tuple, subs[m].get("owned", []))
                      if tp in valid and tp not in owner and tp[0] in subs[m]["topics"])
        cap = low + 1 if at_high < extra else low
        kept = kept[:cap]
        at_high += len(kept) == low + 1 and extra > 0
        out[m] = kept
        owner.update((tp, m) for tp in kept)
    # Hand out the rest to whoever subscribes and holds least.
    for tp in partitions:
        if tp in owner:
            continue
        takers = [m for m in members if tp[0] in subs[m]["topics"]]
        if takers:
            m = min(takers, key=lambda m: (len(out[m]), m))
            out[m].append(tp)
            owner[tp] = m
    # Cooperative: nothing goes to a new member while its previous owner still holds it.
    previous = {tuple(tp): m for m in members for tp in subs[m].get("owned", [])}
    for m in members:
        out[m] = sorted(tp for tp in out[m] if previous.get(tp, m) == m)
    return out


ASSIGNORS: dict[str, Callable[[Subscriptions, Mapping[str, int]], Assignment]] = {
    "range": range_assign,
    "roundrobin": roundrobin_assign,
    "cooperative-sticky": cooperative_sticky_assign,
}
COOPERATIVE = {"cooperative-sticky"}

"""The client-side assignors: fair shares, idle extras, and cooperative hand-overs."""

import random

from mini_kafka.client.assignors import (
    cooperative_sticky_assign,
    range_assign,
    roundrobin_assign,
)


def subs(members, topics=("t",), owned=None):
    owned = owned or {}
    return {m: {"topics": list(topics), "owned": [list(tp) for tp in owned.get(m, [])]}
            for m in members}


def test_range_gives_consecutive_runs_and_the_first_members_the_extras():
    out = range_assign(subs(["a", "b", "c"]), {"t": 7})
    assert out == {"a": [("t", 0), ("t", 1), ("t", 2)], "b": [("t", 3), ("t", 4)],
                   "c": [("t", 5), ("t", 6)]}


def test_more_members_than_partitions_leaves_the_extras_idle():
    members = [f"m{i}" for i in range(7)]
    for assign in (range_assign, roundrobin_assign, cooperative_sticky_assign):
        out = assign(subs(members), {"t": 6})
        assert sorted(len(v) for v in out.values()) == [0, 1, 1, 1, 1, 1, 1], assign.__name__
        assert sorted(tp for v in out.values() for tp in v) == [("t", p) for p in range(6)]


def test_roundrobin_deals_every_topic_around_and_respects_subscriptions():
    s = {"a": {"topics": ["x", "y"]}, "b": {"topics": ["x", "y"]}, "c": {"topics": ["y"]}}
    out = roundrobin_assign(s, {"x": 2, "y": 3})
    assert out == {"a": [("x", 0), ("y", 1)], "b": [("x", 1), ("y", 2)], "c": [("y", 0)]}


def rounds_until_settled(members_owned, counts, members):
    """Run cooperative rounds as members would: each revokes what it lost, the rest keep
    what they own; returns each round's assignment."""
    owned = {m: members_owned.get(m, []) for m in members}
    history = []
    for _ in range(5):
        out = cooperative_sticky_assign(subs(members, owned=owned), counts)
        history.append(out)
        everything = [tp for v in out.values() for tp in v]
        assert len(everything) == len(set(everything)), "a partition given to two members"
        if out == owned:
            return history
        owned = out
    raise AssertionError(f"never settled: {history}")


def test_cooperative_sticky_hands_partitions_over_in_two_rounds_and_keeps_the_rest():
    first = cooperative_sticky_assign(subs(["a", "b"]), {"t": 6})
    assert sorted(len(v) for v in first.values()) == [3, 3]
    history = rounds_until_settled(first, {"t": 6}, ["a", "b", "c"])
    assert history[0]["c"] == [], "c waits while a and b still own what it will get"
    final = history[-1]
    assert sorted(len(v) for v in final.values()) == [2, 2, 2]
    for m in ("a", "b"):
        assert set(final[m]) <= set(first[m]), "survivors only ever lose partitions"


def test_cooperative_sticky_stays_balanced_and_exclusive_under_random_churn():
    rng = random.Random(7)
    owned: dict[str, list] = {}
    members = ["m0"]
    for step in range(30):
        if rng.random() < 0.5 and len(members) < 8:
            members.append(f"m{step + 1}")
        elif len(members) > 1:
            members.remove(rng.choice(members))
        history = rounds_until_settled({m: owned.get(m, []) for m in members}, {"t": 10},
                                       members)
        owned = history[-1]
        sizes = [len(owned[m]) for m in members]
        assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 10

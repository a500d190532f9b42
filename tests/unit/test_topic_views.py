"""`topic describe`'s filters and summary line, over partitions as Admin describes them."""

from __future__ import annotations

import pytest

from mini_kafka.cli.topic_views import select, summary

pytestmark = pytest.mark.unit


def part(n: int, leader: int, replicas: list[int], isr: list[int]) -> dict:
    return {"partition": n, "leader": leader, "replicas": replicas, "isr": isr}


PARTS = [part(0, 1, [1, 2, 3], [1, 2, 3]),
         part(1, 2, [2, 3, 1], [2, 3]),      # under-replicated
         part(2, -1, [3, 1, 2], []),         # no leader
         part(3, 1, [1, 4, 5], [1, 4, 5])]


def test_each_filter_and_their_combination():
    assert [p["partition"] for p in select(PARTS)] == [0, 1, 2, 3]
    assert [p["partition"] for p in select(PARTS, under_replicated=True)] == [1, 2]
    assert [p["partition"] for p in select(PARTS, unavailable=True)] == [2]
    assert [p["partition"] for p in select(PARTS, broker=4)] == [3]
    assert [p["partition"] for p in select(PARTS, under_replicated=True, broker=2)] == [1, 2]
    assert select(PARTS, unavailable=True, broker=4) == []


def test_the_summary_counts_problems_and_shows_brokers_that_lead_nothing():
    line = summary([{"name": "t", "partitions": PARTS}, {"name": "empty", "partitions": []}])
    assert line == ("2 topic(s), 4 partition(s): 2 under-replicated, 1 without a leader; "
                    "leaders per broker 0-2 over 5 broker(s) (most: broker 1)")
    assert summary([]) == "0 topic(s), 0 partition(s): 0 under-replicated, 0 without a leader"

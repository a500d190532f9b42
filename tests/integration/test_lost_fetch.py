"""A follower whose fetch answer was lost (a `loss` fault drops whole messages) is back
in the ISR about a second after the fault is lifted: its leader sees it has no fetch
waiting and nudges it, instead of the follower waiting out its lost fetch's 30 s wait
and request timeout."""

from __future__ import annotations

import time

from launcher.chaos import add_rules
from mini_kafka.client import Admin, NewTopic, Producer
from tests.helpers import wait_until

# The silence (1 s) plus an ISR check (500 ms) plus a fetch; without the nudge the lost
# fetch would be given up on only after replica_fetch_wait_max_ms + request_timeout_ms.
BACK_WITHIN_S = 8


def isr(cluster) -> list[int]:
    return cluster.metadata(linearizable=True).partition("t", 0)["isr"]


def test_a_follower_whose_fetch_answer_was_lost_is_nudged_back_into_the_isr(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("t", 1, 2, {"min.insync.replicas": "1"})])
    wait_until(lambda: len(isr(cluster)) == 2, what="the ISR whole")
    p = cluster.metadata(linearizable=True).partition("t", 0)
    leader, follower = p["leader"], next(r for r in p["replicas"] if r != p["leader"])
    timeouts = cluster.config.timeouts
    assert timeouts.replica_fetch_wait_max_ms + timeouts.request_timeout_ms > \
        3 * BACK_WITHIN_S * 1000, "the figure would not tell a nudge from a timeout"
    with Producer(cluster.bootstrap, acks="all", linger_ms=0) as producer:
        producer.send("t", b"before", partition=0).get(10)
    # Every message from the leader to the follower is lost from here: the answer to the
    # follower's waiting fetch (the next record wakes it) and every nudge.
    add_rules(cluster, f"broker-{leader}", [{"peer": f"broker-{follower}",
                                             "direction": "out", "drop_rate": 1.0}])
    with Producer(cluster.bootstrap, acks="1", linger_ms=0) as producer:
        producer.send("t", b"lost on its way", partition=0).get(10)
    wait_until(lambda: isr(cluster) == [leader], timeout_s=15,
               what="the follower out of the ISR: its answer was lost")
    cluster.heal()
    healed_at = time.monotonic()
    wait_until(lambda: sorted(isr(cluster)) == sorted([leader, follower]),
               timeout_s=BACK_WITHIN_S, what="the follower back in the ISR")
    assert time.monotonic() - healed_at < BACK_WITHIN_S
    with Admin(cluster.bootstrap) as admin:
        [topic] = admin.describe_topics(["t"])
    assert topic["partitions"][0]["high_watermark"] == 2, "it holds the record it lost"

"""A follower's fetch held at its leader's log end (a long poll on an idle partition)
keeps it in sync for as long as it waits; only a follower that is caught up can be
parked so; once answered it gets a fresh lag window to fetch again. And a held fetch
is answered when the high watermark it would learn moves."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from mini_kafka.broker.api import BrokerApi
from mini_kafka.broker.long_poll import hw_news, news_only
from mini_kafka.broker.replica import LeaderState
from mini_kafka.config import load_config
from mini_kafka.errors import KafkaError

LAG_MS = 3000


def leader(leo=10):
    s = LeaderState(1, leader_epoch=5, partition_epoch=7, replicas=[1, 2, 3],
                    isr=[1, 2, 3], leo=leo, hw=leo, now_ms=0)
    s.on_follower_fetch(2, leo, now_ms=0)
    s.on_follower_fetch(3, leo, now_ms=0)
    return s


def test_a_follower_waiting_at_the_log_end_stays_in_sync_past_the_lag_window():
    s = leader()
    assert s.park(2)  # follower 2's fetch waits; follower 3 went quiet
    assert s.wanted_isr(now_ms=10 * LAG_MS, lag_max_ms=LAG_MS) == [1, 2]


def test_once_answered_a_parked_follower_has_one_lag_window_to_fetch_again():
    s = leader()
    assert s.park(2) and s.park(3)
    s.unpark(2, now_ms=20_000)  # an append answered both: 2 never fetches again
    s.unpark(3, now_ms=20_000)
    s.on_local_append(11)
    s.on_follower_fetch(3, 11, now_ms=20_010)
    assert s.wanted_isr(now_ms=20_000 + LAG_MS, lag_max_ms=LAG_MS) is None
    assert s.wanted_isr(now_ms=20_001 + LAG_MS, lag_max_ms=LAG_MS) == [1, 3]


def test_a_follower_behind_the_log_end_is_not_parked():
    s = leader()
    s.on_local_append(12)
    assert not s.park(2)
    assert s.wanted_isr(now_ms=LAG_MS + 1, lag_max_ms=LAG_MS) == [1]


def test_two_fetches_held_for_one_follower_both_must_end():
    s = leader()
    assert s.park(2) and s.park(2)  # an abandoned fetch still waits beside the new one
    s.unpark(2, now_ms=100)
    assert s.wanted_isr(now_ms=10 * LAG_MS, lag_max_ms=LAG_MS) == [1, 2]
    s.unpark(2, now_ms=200)
    assert s.wanted_isr(now_ms=200 + LAG_MS + 1, lag_max_ms=LAG_MS) == [1]


def test_a_held_fetch_is_news_when_the_high_watermark_it_would_learn_moves():
    asked = [{"fetch_offset": 10, "high_watermark": 8}]
    assert hw_news(asked, [{"high_watermark": 10}])
    assert not hw_news(asked, [{"high_watermark": 8}])
    # Its own log end caps what it could learn: no busy loop for a follower behind.
    assert not hw_news([{"fetch_offset": 8, "high_watermark": 8}], [{"high_watermark": 10}])
    assert not hw_news([{"fetch_offset": 10}], [{"high_watermark": 10}])  # none named
    assert not hw_news(asked, [{"error": "NOT_LEADER_OR_FOLLOWER"}])
    assert not hw_news([{"fetch_offset": 10, "high_watermark": "8"}], [{"high_watermark": 10}])


def test_a_followers_answer_names_only_the_partitions_it_learns_from():
    asked = [{"fetch_offset": 10, "high_watermark": 8},   # idle, HW unchanged
             {"fetch_offset": 10, "high_watermark": 8},   # records
             {"fetch_offset": 10, "high_watermark": 8},   # the HW it would learn moved
             {"fetch_offset": 8, "high_watermark": 8},    # HW moved past its log end only
             {"fetch_offset": 10, "high_watermark": 8},   # an error
             {"fetch_offset": 10, "high_watermark": 8},   # a divergence
             {"fetch_offset": 10}]                        # names no HW: always answered
    results = [{"high_watermark": 8}, {"high_watermark": 8, "records": 0},
               {"high_watermark": 10}, {"high_watermark": 10},
               {"error": "NOT_LEADER_OR_FOLLOWER"},
               {"high_watermark": 8, "diverging_epoch": {"epoch": 1, "end_offset": 5}},
               {"high_watermark": 8}]
    assert news_only(asked, results) == [results[i] for i in (1, 2, 4, 5, 6)]


def test_the_high_watermark_a_follower_holds_reaches_the_leaders_fetch():
    """The request check once dropped it, so every follower was answered with every
    partition it follows and a moved HW never answered a held fetch."""
    config = load_config(Path(__file__).parents[2] / "cluster.yaml")
    api = BrokerApi(SimpleNamespace(node=SimpleNamespace(name="broker-1"), config=config))
    entry = {"topic": "t", "partition": 0, "fetch_offset": 10, "high_watermark": 8}
    follower = api._bounded_fetch({"replica_id": 2, "partitions": [entry]})
    assert follower["partitions"][0]["high_watermark"] == 8
    consumer = api._bounded_fetch({"replica_id": -1, "partitions": [entry]})
    assert "high_watermark" not in consumer["partitions"][0]  # a consumer's is no use
    with pytest.raises(KafkaError, match="high_watermark"):
        api._bounded_fetch({"replica_id": 2, "partitions": [{**entry, "high_watermark": "8"}]})

"""A follower's fetch, or its answer, lost on the way (a `loss` fault drops whole
messages) is noticed by the leader: the follower has no fetch waiting there and sent
none for replica_fetch_silence_ms. The leader nudges it (FETCH_NUDGE) and the follower
sends its fetch again, instead of waiting out the fetch's 30 s wait and its timeout."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.broker.fetch_nudges import FetchNudges
from mini_kafka.broker.fetcher import FetcherManager
from mini_kafka.broker.replica import LeaderState
from mini_kafka.clock import ManualClock
from mini_kafka.config import config_from_dict
from mini_kafka.protocol import ApiKey
from mini_kafka.supervisor import Supervisor
from tests.unit.leader_helpers import leading_image, refusing_controller
from tests.unit.test_fetcher import _follower, _IdleLeader, _until

SILENCE_MS = 1_000


def test_a_follower_is_silent_only_with_no_fetch_waiting_and_none_for_a_while():
    s = LeaderState(1, 0, 0, [1, 2, 3], [1, 2, 3], leo=5, hw=5, now_ms=0)
    assert s.silent_followers(60_000, SILENCE_MS) == [], \
        "none has fetched in this leader epoch: slow to start is not lost"
    s.on_follower_fetch(2, 5, now_ms=100)
    s.park(2)  # broker 2's fetch waits here
    s.on_follower_fetch(3, 5, now_ms=100)  # broker 3's was answered; its next is lost
    assert s.silent_followers(1_100, SILENCE_MS) == []
    assert s.silent_followers(1_101, SILENCE_MS) == [3]
    s.unpark(2, now_ms=5_000)  # answered: its next fetch is on its way
    assert s.silent_followers(5_900, SILENCE_MS) == [3]
    assert s.silent_followers(6_001, SILENCE_MS) == [2, 3], "the answer or the next was lost"
    s.on_follower_fetch(3, 2, now_ms=6_000)  # behind: answered at once, never parked
    assert s.silent_followers(6_500, SILENCE_MS) == [2]


def test_each_silent_follower_is_nudged_once_per_interval():
    nudges = FetchNudges(SILENCE_MS)
    assert nudges.due({2, 3}, now_ms=10_000) == [2, 3]
    assert nudges.due({2, 3}, now_ms=10_500) == []
    assert nudges.due({3}, now_ms=11_000) == [3]  # broker 2 is heard from again
    assert nudges.due({2, 3}, now_ms=11_100) == [2], "2 went quiet anew"


def test_a_nudged_follower_sends_again_only_a_fetch_older_than_the_silence(tmp_path):
    client, clock = _IdleLeader(), ManualClock()
    manager = SimpleNamespace(config=config_from_dict({}), clock=clock, broker_id=2,
                              node=SimpleNamespace(client=client,
                                                   supervisor=Supervisor("broker-2")))
    part = _follower(tmp_path, "a")

    async def main():
        fetchers = FetcherManager(manager)
        try:
            assert not fetchers.nudged(1), "no fetch out to broker 1"
            fetchers.assign(part, 1, "tcp://leader")
            await _until(lambda: len(client.asked) == 1)
            clock.advance(SILENCE_MS - 1)
            assert not fetchers.nudged(1), "sent since the leader last heard: on its way"
            clock.advance(1)
            assert fetchers.nudged(1)
            await _until(lambda: len(client.asked) == 2)
            assert client.asked[1] == [("a", 0)]
            await _until(lambda: client.abandoned == 1)
            assert not fetchers.nudged(3), "not a leader it fetches from"
        finally:
            fetchers.close()
            await asyncio.gather(*fetchers.tasks.values(), return_exceptions=True)

    asyncio.run(main())


def test_a_leader_nudges_its_silent_followers_but_not_fenced_ones(tmp_path):
    from tests.unit.test_replica_storage import manager

    async def scenario():
        m = manager(tmp_path)
        m.role.image = leading_image(2, [1, 2, 3], [1, 2, 3], fenced=(3,))
        m.on_metadata(m.role.image)
        sent = []

        async def send_oneway(endpoint, api, body=None, payloads=None):
            sent.append((endpoint, api))
            return True
        m.node.client = SimpleNamespace(send_oneway=send_oneway)

        m.role.controller = refusing_controller([])

        async def check() -> list:
            sent.clear()
            m.upkeep.check()
            for _ in range(3):
                await asyncio.sleep(0)
            return sent[:]

        m.clock.advance(SILENCE_MS * 5)
        assert await check() == [], "no follower has fetched from this leader yet"
        for part in m.partitions.values():  # each fetched once; the next went missing
            for follower in (2, 3):
                part.leader_state.on_follower_fetch(follower, part.log.log_end_offset,
                                                    m.clock.monotonic_ms())
        assert await check() == []
        m.clock.advance(SILENCE_MS + 1)
        # One nudge per follower broker, for both partitions; broker 3 is fenced.
        assert await check() == [(m.config.cluster_endpoint_of("broker-2"),
                                  ApiKey.FETCH_NUDGE)]
        m.clock.advance(SILENCE_MS // 2)
        assert await check() == [], "once per interval"
        for part in m.partitions.values():  # broker 2 fetches again, and waits there
            part.leader_state.on_follower_fetch(2, part.log.log_end_offset,
                                                m.clock.monotonic_ms())
            part.leader_state.park(2)
        m.clock.advance(SILENCE_MS * 5)
        assert await check() == []

    asyncio.run(scenario())

"""A broker heartbeats every interval only to keep its session: news the controller must
act on (a replica gone offline, data lost to corruption, metadata caught up with a
registration) cuts the wait short, so the interval can be long without slowing those."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.broker.server import BrokerRole
from tests.unit.test_replica_storage import manager, produce

LONG_S = 30.0  # an interval no test waits out


def waiting_broker(news: asyncio.Event, *, epoch=5, fenced=False, offset=10, reported=None):
    """`reported`: the metadata offset its last heartbeat carried (`offset` if None)."""
    stub = SimpleNamespace(replicas=SimpleNamespace(storage=SimpleNamespace(news=news)),
                           broker_epoch=epoch, fenced=fenced,
                           applied_offset=offset,
                           _reported_offset=offset if reported is None else reported,
                           metadata_changed=asyncio.Event())
    stub._behind_registration = lambda: BrokerRole._behind_registration(stub)
    stub._caught_up_unreported = lambda: BrokerRole._caught_up_unreported(stub)
    return stub


def test_a_replica_going_offline_is_news_for_the_next_heartbeat(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        m.on_metadata(m.role.image)
        assert (await produce(m))["error"] == "NONE"
        assert not m.storage.news.is_set(), "a write that works is no news"
        m.node.disk.full = True
        assert (await produce(m))["error"] == "KAFKA_STORAGE_ERROR"
        assert m.storage.news.is_set()

    asyncio.run(scenario())


def test_news_cuts_the_wait_for_the_next_heartbeat_short():
    async def scenario():
        news = asyncio.Event()
        broker = waiting_broker(news)
        waiting = asyncio.ensure_future(BrokerRole._until_next_heartbeat(broker, LONG_S))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "nothing new: it waits its interval"
        news.set()
        await asyncio.wait_for(waiting, 5)
        news.clear()
        await asyncio.wait_for(BrokerRole._until_next_heartbeat(broker, 0.05), 5)

    asyncio.run(scenario())


def test_a_fenced_broker_heartbeats_as_soon_as_its_metadata_reaches_its_registration():
    async def scenario():
        broker = waiting_broker(asyncio.Event(), epoch=12, fenced=True, offset=10)
        waiting = asyncio.ensure_future(BrokerRole._until_next_heartbeat(broker, LONG_S))
        await asyncio.sleep(0.02)
        broker.applied_offset = 11  # not yet
        broker.metadata_changed.set()
        broker.metadata_changed = asyncio.Event()
        await asyncio.sleep(0.05)
        assert not waiting.done()
        broker.applied_offset = 12
        broker.metadata_changed.set()
        await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())


def test_a_broker_that_caught_up_while_its_heartbeat_was_out_heartbeats_again_at_once():
    """Its heartbeat said offset 10 of a registration at 12, and was answered fenced;
    meanwhile it reached 12. No change is coming to wake it: it must not wait its turn
    (that race made 3 + 3 come up in 2.9 s instead of 0.8 s, one interval later)."""
    async def scenario():
        broker = waiting_broker(asyncio.Event(), epoch=12, fenced=True, offset=12,
                                reported=10)
        await asyncio.wait_for(BrokerRole._until_next_heartbeat(broker, LONG_S), 5)
        # Once a heartbeat has carried it, a broker still fenced waits its interval
        # (the controller's answer was heard): no heartbeat loop.
        broker._reported_offset = 12
        waiting = asyncio.ensure_future(BrokerRole._until_next_heartbeat(broker, LONG_S))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        waiting.cancel()

    asyncio.run(scenario())

"""A long poll (fetch, acks=all produce) waits on many partitions with one future: any
of them changing wakes it, the timeout ends it, and nothing is left registered."""

from __future__ import annotations

import asyncio

from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.broker.long_poll import wait_any
from mini_kafka.broker.partition import Partition
from mini_kafka.clock import ManualClock


def partitions(tmp_path, n):
    clock = ManualClock()
    return [Partition("t", i, PartitionLog(tmp_path / f"t-{i}", LogConfig(), clock), 1,
                      high_watermark=0) for i in range(n)]


def test_any_partition_wakes_the_poll_and_it_deregisters(tmp_path):
    parts = partitions(tmp_path, 3)

    async def scenario():
        loop = asyncio.get_running_loop()
        began = loop.time()
        poll = asyncio.ensure_future(wait_any(parts, timeout_ms=10_000))
        await asyncio.sleep(0)
        assert all(len(p._waiters) == 1 for p in parts)
        parts[2].signal()
        await asyncio.wait_for(poll, 1)
        assert loop.time() - began < 1 and all(not p._waiters for p in parts)

    asyncio.run(scenario())


def test_the_timeout_ends_the_poll_and_cancelling_leaves_nothing_behind(tmp_path):
    parts = partitions(tmp_path, 2)

    async def scenario():
        await asyncio.wait_for(wait_any(parts, timeout_ms=20), 1)  # nobody signals
        poll = asyncio.ensure_future(wait_any(parts, timeout_ms=10_000))
        await asyncio.sleep(0)
        poll.cancel()
        await asyncio.gather(poll, return_exceptions=True)
        assert all(not p._waiters for p in parts)
        parts[0].signal()  # a signal with nobody waiting is harmless

    asyncio.run(scenario())

"""A partition that starts following a leader joins the fetch to it at once, instead of
waiting for a long poll already in flight there (without it) to come back."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.broker.fetcher import FetcherManager
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.broker.partition import FOLLOWER, Partition
from mini_kafka.clock import ManualClock, SystemClock
from mini_kafka.config import config_from_dict
from mini_kafka.supervisor import Supervisor


class _IdleLeader:
    """A leader with nothing new: every fetch waits (a long poll that never ends here)."""

    def __init__(self):
        self.asked: list[list[tuple[str, int]]] = []  # the partitions of each fetch
        self.abandoned = 0

    async def request(self, endpoint, api, body, **kwargs):
        self.asked.append([(p["topic"], p["partition"]) for p in body["partitions"]])
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.abandoned += 1
            raise


def _follower(tmp_path, topic: str) -> Partition:
    part = Partition(topic, 0, PartitionLog(tmp_path / topic, LogConfig(), ManualClock()), 2, 0)
    part.apply_metadata({"replicas": [1, 2], "isr": [1, 2], "leader": 1, "leader_epoch": 1,
                         "partition_epoch": 1}, 0)
    assert part.role == FOLLOWER
    return part


async def _until(predicate, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.001)


def test_a_partition_that_starts_following_joins_the_fetch_in_flight_at_once(tmp_path):
    client = _IdleLeader()
    manager = SimpleNamespace(config=config_from_dict({}), clock=SystemClock(), broker_id=2,
                              node=SimpleNamespace(client=client,
                                                   supervisor=Supervisor("broker-2")))
    first, second = _follower(tmp_path, "a"), _follower(tmp_path, "b")

    async def main():
        fetchers = FetcherManager(manager)
        try:
            fetchers.assign(first, 1, "tcp://leader")
            await _until(lambda: len(client.asked) == 1)
            fetchers.assign(first, 1, "tcp://leader")  # metadata again, nothing new
            await asyncio.sleep(0.05)  # sampling: nothing may be re-sent
            assert len(client.asked) == 1
            fetchers.assign(second, 1, "tcp://leader")  # e.g. its new leader is broker 1
            await _until(lambda: len(client.asked) == 2)
            assert client.asked[1] == [("a", 0), ("b", 0)]
            await _until(lambda: client.abandoned == 1)
        finally:
            fetchers.close()
            await asyncio.gather(*fetchers.tasks.values(), return_exceptions=True)

    asyncio.run(main())

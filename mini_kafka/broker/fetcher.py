"""Followers pull from leaders: one fetch loop per leader broker, covering every
partition this broker follows there (Kafka's replica fetcher threads).

Each fetch carries the follower's log end offset and the epoch of its last batch; the
leader answers with records, or with where our logs diverge, or with an error. A
response is applied only if the partition still follows the same leader in the same
epoch as when the fetch was sent.
"""

from __future__ import annotations

import asyncio
import logging

from mini_kafka.broker.partition import FOLLOWER, Partition
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.broker.fetcher")

FETCH_MAX_WAIT_MS = 500
FETCH_MAX_BYTES = 8 * 1024 * 1024
PARTITION_MAX_BYTES = 1024 * 1024


class FetcherManager:
    def __init__(self, manager):
        self.manager = manager
        self.follows: dict[int, dict[tuple[str, int], Partition]] = {}  # leader -> parts
        self.endpoints: dict[int, str] = {}
        self.tasks: dict[int, asyncio.Task] = {}

    def assign(self, part: Partition, leader: int, endpoint: str) -> None:
        key = (part.topic, part.partition)
        for other, parts in self.follows.items():
            if other != leader:
                parts.pop(key, None)
        self.follows.setdefault(leader, {})[key] = part
        self.endpoints[leader] = endpoint
        if leader not in self.tasks or self.tasks[leader].done():
            self.tasks[leader] = asyncio.ensure_future(self._run(leader))

    def remove(self, part: Partition) -> None:
        for parts in self.follows.values():
            parts.pop((part.topic, part.partition), None)

    def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()

    async def _run(self, leader: int) -> None:
        backoff_s = self.manager.config.limits.retry_backoff_ms / 1000
        client = self.manager.node.client
        while self.follows.get(leader):
            parts = list(self.follows[leader].values())
            sent = {(p.topic, p.partition): (p.leader_epoch, p.log.log_end_offset)
                    for p in parts}
            body = {"replica_id": self.manager.broker_id, "max_wait_ms": FETCH_MAX_WAIT_MS,
                    "min_bytes": 1, "max_bytes": FETCH_MAX_BYTES,
                    "partitions": [{"topic": p.topic, "partition": p.partition,
                                    "fetch_offset": p.log.log_end_offset,
                                    "last_fetched_epoch": p.log.epochs.latest_epoch,
                                    "current_leader_epoch": p.leader_epoch,
                                    "partition_max_bytes": PARTITION_MAX_BYTES}
                                   for p in parts]}
            try:
                reply = await client.request(
                    self.endpoints[leader], ApiKey.FETCH, body, retries=0,
                    timeout_ms=FETCH_MAX_WAIT_MS + self.manager.config.timeouts
                    .request_timeout_ms)
            except KafkaError as e:
                log.info("fetch from broker %d: %s", leader, e)
                await asyncio.sleep(backoff_s)
                continue
            if reply.error != "NONE":
                await asyncio.sleep(backoff_s)
                continue
            trouble = False
            for result in reply.body.get("partitions", []):
                key = (result["topic"], result["partition"])
                part = self.follows.get(leader, {}).get(key)
                epoch, fetch_offset = sent.get(key, (None, None))
                if part is None or part.role != FOLLOWER or part.leader != leader \
                        or part.leader_epoch != epoch:
                    continue  # the partition moved on while the fetch was in flight
                index = result.get("records")
                data = reply.payloads[index] if index is not None else b""
                trouble |= not part.apply_fetch(fetch_offset, result, data)
            if trouble:
                await asyncio.sleep(backoff_s)

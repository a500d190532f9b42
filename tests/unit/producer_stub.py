"""A stand-in for the producer's view of the cluster, so the sender can be driven through
leaders that vanish, requests that never return, replies that make no sense and
metadata that never comes — in process, without a cluster."""

from __future__ import annotations

import asyncio
import itertools

from mini_kafka.client import Producer
from mini_kafka.client.cluster import PartitionInfo
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import Kind, Message

LEADER = (1, "tcp://stub-broker-1:1")


class StubView:
    def __init__(self, partitions: int = 3):
        self.topics = {"t": [PartitionInfo("t", p, 1, 0, (1,), (1,)) for p in range(partitions)]}
        self.brokers = {1: LEADER[1]}
        self.unknown_topics: set[str] = set()
        self.leaderless = False
        self.hang = False  # PRODUCE requests never return
        self.refresh_error: BaseException | None = None
        self.producer_id_error: BaseException | None = None
        self.reply_body = None  # a fixed (malformed?) PRODUCE reply body
        self.produced: list[dict] = []
        self.refreshes = 0
        self._offsets = itertools.count()
        self.request_timeout_ms = 30_000

    def leader_of(self, topic, partition):
        return None if self.leaderless else LEADER

    async def refresh(self, topics=None):
        self.refreshes += 1
        await asyncio.sleep(0)
        if self.refresh_error is not None:
            raise self.refresh_error

    async def partitions_for(self, topic, timeout_ms):
        if topic not in self.topics:
            raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION", topic)
        return self.topics[topic]

    async def any_broker(self, api, body, timeout_ms=None):
        if self.producer_id_error is not None:
            raise self.producer_id_error
        return Message(Kind.REPLY, api, 0, "stub", {"error": "NONE", "producer_id": 7,
                                                    "producer_epoch": 0})

    async def request(self, endpoint, api, body, payloads=None, timeout_ms=None):
        if self.hang:
            await asyncio.Event().wait()
        self.produced.append(body)
        if self.reply_body is not None:
            return Message(Kind.REPLY, api, 0, "stub", self.reply_body)
        return Message(Kind.REPLY, api, 0, "stub", {"error": "NONE", "partitions": [
            {"topic": p["topic"], "partition": p["partition"], "error": "NONE",
             "base_offset": next(self._offsets)} for p in body["partitions"]]})

    def close(self):
        pass


def stub_producer(**config) -> tuple[Producer, StubView]:
    config.setdefault("linger_ms", 0)
    config.setdefault("retry_backoff_ms", 10)
    producer = Producer("127.0.0.1:1", **config)
    view = StubView()
    producer._view = view  # before any record: the sender reads the view only for those
    return producer, view

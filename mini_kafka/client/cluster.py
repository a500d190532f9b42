"""What a client knows of the cluster: brokers, topics, partition leaders — learned from
any broker (bootstrap) and refreshed when a broker says it is stale."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.transport import Client

log = logging.getLogger("mini_kafka.client")


def parse_bootstrap(servers: str | list[str]) -> list[str]:
    """'host:port,host:port' (or a list of them) -> ZeroMQ endpoints; ValueError if bad."""
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    endpoints = []
    for item in (i.strip() for i in items):
        if item.startswith("tcp://"):
            item = item[len("tcp://"):]
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad bootstrap server {item!r}: expected host:port, "
                             "e.g. 127.0.0.1:19092")
        endpoints.append(f"tcp://{host}:{port}")
    if not endpoints:
        raise ValueError("no bootstrap servers given")
    return endpoints


@dataclass(frozen=True)
class PartitionInfo:
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


class ClusterView:
    def __init__(self, client_id: str, bootstrap: list[str], *, request_timeout_ms: int,
                 retry_backoff_ms: int):
        self.client_id = client_id
        self.bootstrap = bootstrap
        self.request_timeout_ms = request_timeout_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.transport: Client | None = None  # made on the loop, on first use
        self.brokers: dict[int, str] = {}
        self.topics: dict[str, list[PartitionInfo]] = {}
        self.unknown_topics: set[str] = set()
        self._refreshing: asyncio.Future | None = None

    def client(self) -> Client:
        if self.transport is None:
            self.transport = Client(self.client_id, request_timeout_ms=self.request_timeout_ms,
                                    retries_max=0)
        return self.transport

    async def request(self, endpoint: str, api: int, body: dict, payloads=None,
                      timeout_ms: int | None = None) -> Message:
        return await self.client().request(endpoint, api, body, payloads, retries=0,
                                           timeout_ms=timeout_ms or self.request_timeout_ms)

    async def any_broker(self, api: int, body: dict, timeout_ms: int | None = None) -> Message:
        """Ask known brokers (then the bootstrap list) in turn until one answers."""
        candidates = list(dict.fromkeys([*self.brokers.values(), *self.bootstrap]))
        last: Exception | None = None
        for endpoint in candidates:
            try:
                return await self.request(endpoint, api, body, timeout_ms=timeout_ms)
            except KafkaError as e:
                last = e
        raise KafkaTimeoutError(f"no broker answered ({', '.join(candidates)}): {last}")

    async def refresh(self, topics: list[str] | None = None) -> None:
        """Fetch fresh metadata; concurrent callers share one request."""
        if self._refreshing is not None and not self._refreshing.done():
            await asyncio.shield(self._refreshing)
            return
        self._refreshing = asyncio.get_running_loop().create_future()
        try:
            reply = await self.any_broker(ApiKey.METADATA, {"topics": topics})
            self._absorb(reply.body, topics)
            self._refreshing.set_result(None)
        except BaseException as e:
            self._refreshing.set_exception(e)
            self._refreshing.exception()  # retrieved: shared waiters re-raise their own
            raise

    def _absorb(self, body: dict[str, Any], asked: list[str] | None) -> None:
        self.brokers = {b["id"]: b["endpoint"] for b in body["brokers"]}
        for t in body["topics"]:
            if t["error"] == "NONE":
                self.topics[t["name"]] = [
                    PartitionInfo(t["name"], p["partition"], p["leader"], p["leader_epoch"],
                                  tuple(p["replicas"]), tuple(p["isr"]))
                    for p in t["partitions"]]
                self.unknown_topics.discard(t["name"])
            elif t["error"] == "UNKNOWN_TOPIC_OR_PARTITION":
                self.topics.pop(t["name"], None)
                self.unknown_topics.add(t["name"])
        if asked is None:
            known = {t["name"] for t in body["topics"]}
            for name in [n for n in self.topics if n not in known]:
                del self.topics[name]

    async def partitions_for(self, topic: str, timeout_ms: int) -> list[PartitionInfo]:
        """The topic's partitions; waits for metadata up to timeout_ms (a topic being
        created); UNKNOWN_TOPIC_OR_PARTITION when the cluster says it does not exist."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while topic not in self.topics:
            await self.refresh([topic])
            if topic in self.topics:
                break
            if topic in self.unknown_topics:
                raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                                 f"topic {topic!r} does not exist (auto-creation is off)")
            if loop.time() > deadline:
                raise KafkaTimeoutError(f"topic {topic!r} not in metadata after {timeout_ms} ms")
            await asyncio.sleep(self.retry_backoff_ms / 1000)
        return self.topics[topic]

    def leader_of(self, topic: str, partition: int) -> tuple[int, str] | None:
        parts = self.topics.get(topic)
        if parts is None or partition >= len(parts):
            return None
        leader = parts[partition].leader
        endpoint = self.brokers.get(leader)
        return (leader, endpoint) if endpoint else None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

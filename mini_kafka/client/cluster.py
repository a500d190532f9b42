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
        """Ask known brokers (then the bootstrap list) in turn until one answers. A node
        that answers it is no broker (a coordinator) is skipped; if no broker answers,
        the error says which nodes were not brokers and where the brokers are."""
        candidates = list(dict.fromkeys([*self.brokers.values(), *self.bootstrap]))
        last: Exception | None = None
        not_brokers: list[str] = []
        for endpoint in candidates:
            try:
                reply = await self.request(endpoint, api, body, timeout_ms=timeout_ms)
            except KafkaError as e:
                last = e
                continue
            if reply.error != "NONE" and reply.body.get("role") not in (None, "broker"):
                not_brokers.append(_not_a_broker(endpoint, reply))
                continue
            return reply
        if not_brokers:
            raise KafkaError("INVALID_REQUEST", "; ".join(not_brokers))
        raise KafkaTimeoutError(f"no broker answered ({', '.join(candidates)}): {last}")

    async def refresh(self, topics: list[str] | None = None) -> None:
        """Fetch fresh metadata; concurrent callers share one request (and a caller that
        gives up waiting does not cancel it for the others)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._fetch_metadata(topics))
        await asyncio.shield(self._refreshing)

    async def _fetch_metadata(self, topics: list[str] | None) -> None:
        reply = await self.any_broker(ApiKey.METADATA, {"topics": topics})
        if reply.error != "NONE":
            raise KafkaError(reply.error, f"METADATA from {reply.sender}: "
                                          f"{reply.body.get('message', '')}")
        try:
            self._absorb(reply.body, topics)
        except (KeyError, TypeError, ValueError) as e:
            raise KafkaError("UNKNOWN_SERVER_ERROR", f"malformed METADATA reply from "
                                                     f"{reply.sender}: {e!r}") from None

    def _absorb(self, body: dict[str, Any], asked: list[str] | None) -> None:
        brokers = {b["id"]: b["endpoint"] for b in body["brokers"]}
        topics, unknown = {}, set()
        for t in body["topics"]:
            if t["error"] == "NONE":
                topics[t["name"]] = [
                    PartitionInfo(t["name"], p["partition"], p["leader"], p["leader_epoch"],
                                  tuple(p["replicas"]), tuple(p["isr"]))
                    for p in t["partitions"]]
            elif t["error"] == "UNKNOWN_TOPIC_OR_PARTITION":
                unknown.add(t["name"])
        # Only a reply read whole changes the view: a malformed one leaves it as it was.
        self.brokers = brokers
        for name, partitions in topics.items():
            self.topics[name] = partitions
            self.unknown_topics.discard(name)
        for name in unknown:
            self.topics.pop(name, None)
            self.unknown_topics.add(name)
        if asked is None:
            for name in [n for n in self.topics if n not in topics]:
                del self.topics[name]

    async def partitions_for(self, topic: str, timeout_ms: int) -> list[PartitionInfo]:
        """The topic's partitions; waits for metadata up to timeout_ms (a topic being
        created); UNKNOWN_TOPIC_OR_PARTITION when the cluster says it does not exist."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        try:
            async with asyncio.timeout_at(deadline):
                while topic not in self.topics:
                    await self.refresh([topic])
                    if topic in self.topics:
                        break
                    if topic in self.unknown_topics:
                        raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                                         f"topic {topic!r} does not exist (auto-creation is "
                                         "off)")
                    await asyncio.sleep(self.retry_backoff_ms / 1000)
        except TimeoutError:
            raise KafkaTimeoutError(f"topic {topic!r} not in metadata after {timeout_ms} ms"
                                    ) from None
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


def _not_a_broker(endpoint: str, reply: Message) -> str:
    """'127.0.0.1:19191 is coordinator-1, not a broker; brokers are 127.0.0.1:19092, ...'"""
    brokers = reply.body.get("brokers")
    where = [b.get("endpoint", "?") if isinstance(b, dict) else str(b)
             for b in brokers] if isinstance(brokers, list) else []
    return (f"{_host_port(endpoint)} is {reply.sender}, not a broker; "
            + (f"brokers are {', '.join(_host_port(e) for e in where)}" if where
               else "it knows of no broker to send you to"))


def _host_port(endpoint: str) -> str:
    return endpoint[len("tcp://"):] if endpoint.startswith("tcp://") else endpoint

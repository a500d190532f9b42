"""What an adapter gets to work with, and the registry of the APIs the listener serves.

An adapter is `async def handle(ctx, request) -> response entity | None` for one API key,
registered with the version range it really implements: only those are advertised in
ApiVersions, so a client never picks a version we would answer wrongly (librdkafka turns
features on from these ranges). It turns the kio request into calls of the broker's
protocol-neutral handlers through `ctx.call`, which never raises for a refused request:
an error comes back as the reply's error, as it would over the cluster's own RPC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from mini_kafka.kafka_protocol.codec import RequestHeader, response_class
from mini_kafka.kafka_protocol.entities import build


class CloseConnection(Exception):
    """Raised by an adapter that must answer by closing the connection: an acks=0 produce
    that failed has no response to carry the error, and Kafka closes the connection so
    the client refreshes its metadata (a producer writing to a broker that no longer
    leads would otherwise lose everything it sends, silently, for good)."""


@dataclass
class Context:
    """One request's view of the broker, injected by the listener (tests pass fakes)."""

    header: RequestHeader
    broker_id: int
    cluster_id: str
    client_host: str
    # (api, body, payloads, expect_reply) -> reply Message (None when no reply expected)
    call: Callable[..., Awaitable[Any]]
    # broker id -> (host, port) of its Kafka listener, for live brokers
    listeners: Callable[[], dict[int, tuple[str, int]]]
    image: Callable[[], Any]

    @property
    def version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str:
        return self.header.client_id or "kafka-client"

    def respond(self, data: dict[str, Any]):
        """The response entity of this request's API and version, from a description."""
        return build(response_class(self.header.api_key, self.header.api_version), data)

    def controller_id(self) -> int:
        """Kafka's admin clients send CreateTopics and the like to the 'controller'; here
        every broker forwards admin requests to the coordinators' controller, so any live
        broker will do — the lowest id, so that every broker names the same one."""
        live = self.listeners()
        return min(live) if live else self.broker_id


class Adapter(NamedTuple):
    min_version: int
    max_version: int
    handle: Callable[[Context, Any], Awaitable[Any]]


ADAPTERS: dict[int, Adapter] = {}


def adapter(api_key: int, min_version: int, max_version: int):
    def register(fn):
        assert api_key not in ADAPTERS, f"API {api_key} registered twice"
        ADAPTERS[api_key] = Adapter(min_version, max_version, fn)
        return fn
    return register


def supported(api_key: int, version: int) -> bool:
    a = ADAPTERS.get(api_key)
    return a is not None and a.min_version <= version <= a.max_version

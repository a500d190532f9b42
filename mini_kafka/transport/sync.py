"""Blocking one-shot requests for command-line tools and the launcher, which have no
event loop of their own."""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.protocol import Message
from mini_kafka.transport.client import Client
from mini_kafka.transport.keys import ClusterKeys


def call(endpoint: str, api: int, body: dict[str, Any] | None = None, *,
         timeout_ms: int = 1_000, retries: int = 0, sender: str = "cli",
         keys: ClusterKeys | None = None, member: str | None = None) -> Message:
    """One request, one reply; raises KafkaTimeoutError when the peer does not answer.

    With `keys` (whose identity is then the sender), `endpoint` is `member`'s
    authenticated endpoint, reached with CURVE."""

    async def once() -> Message:
        client = Client(keys.identity if keys else sender, request_timeout_ms=timeout_ms,
                        retries_max=retries, keys=keys,
                        member_endpoints={endpoint: member} if member else None,
                        peer_names={endpoint: member} if member else None)
        try:
            return await client.request(endpoint, api, body)
        finally:
            client.close()

    return asyncio.run(once())

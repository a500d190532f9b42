"""Blocking one-shot requests for command-line tools and the launcher, which have no
event loop of their own."""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.protocol import Message
from mini_kafka.transport.client import Client


def call(endpoint: str, api: int, body: dict[str, Any] | None = None, *,
         timeout_ms: int = 1_000, retries: int = 0, sender: str = "cli") -> Message:
    """One request, one reply; raises KafkaTimeoutError when the peer does not answer."""

    async def once() -> Message:
        client = Client(sender, request_timeout_ms=timeout_ms, retries_max=retries)
        try:
            return await client.request(endpoint, api, body)
        finally:
            client.close()

    return asyncio.run(once())

"""Requests to a coordinator — a group's, or a transactional id's — found with
FindCoordinator from any broker and asked, finding it again while it moves or loads,
until the request timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.client.cluster import ClusterView
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.protocol import ApiKey

GROUP, TRANSACTION = 0, 1  # Kafka's FindCoordinator key types
COORDINATOR_ERRORS = {"NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE",
                      "COORDINATOR_LOAD_IN_PROGRESS"}


class CoordinatorLink:
    def __init__(self, view: ClusterView, key: str, request_timeout_ms: int,
                 retry_backoff_ms: int, key_type: int = GROUP):
        self.view, self.key, self.key_type = view, key, key_type
        self.request_timeout_ms, self.retry_backoff_ms = request_timeout_ms, retry_backoff_ms
        self.coordinator: str | None = None

    async def _find(self) -> str:
        reply = await self.view.any_broker(ApiKey.FIND_COORDINATOR,
                                           {"key": self.key, "key_type": self.key_type})
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        self.coordinator = reply.body["endpoint"]
        return self.coordinator

    async def call(self, api: int, body: dict[str, Any], timeout_ms: int | None = None
                   ) -> dict[str, Any]:
        """Ask the coordinator, finding it again while it moves or loads, until
        an answer that is not a coordinator error or the request timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_ms / 1000
        last = "no answer"
        while True:
            try:
                endpoint = self.coordinator or await self._find()
                reply = await self.view.request(endpoint, api, body, timeout_ms=timeout_ms)
                if reply.error not in COORDINATOR_ERRORS:
                    return reply.body
                last = f"{reply.error}: {reply.body.get('message', '')}"
            except KafkaError as e:
                if e.error.name not in COORDINATOR_ERRORS and not e.error.retriable:
                    raise
                last = str(e)
            self.coordinator = None
            if loop.time() > deadline:
                raise KafkaTimeoutError(f"{self.key!r}: no coordinator answered "
                                        f"within {self.request_timeout_ms} ms ({last})")
            await asyncio.sleep(self.retry_backoff_ms / 1000)

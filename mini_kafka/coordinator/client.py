"""Talking to the coordinator ensemble from a broker or a tool.

Writes go to the active controller (the Raft leader): a follower answers NOT_CONTROLLER
with the leader's endpoint, which is tried next; a coordinator that does not answer is
skipped for the next one. Metadata reads may go to any coordinator.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.transport import Client


class ControllerClient:
    def __init__(self, client: Client, endpoints: list[str], *, timeout_ms: int,
                 attempt_timeout_ms: int, retry_backoff_ms: int, clock):
        assert endpoints, "no coordinator endpoints"
        self.client = client
        self.endpoints = list(endpoints)
        self.timeout_ms = timeout_ms
        self.attempt_timeout_ms = attempt_timeout_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.clock = clock
        self._leader = self.endpoints[0]
        self._reader = self.endpoints[0]

    async def call_controller(self, api: int, body: dict[str, Any]) -> Message:
        """Send to the controller, following redirects, until a reply that is not
        NOT_CONTROLLER or the timeout; the reply may carry another error."""
        deadline = self.clock.monotonic_ms() + self.timeout_ms
        last = "no coordinator answered"
        while self.clock.monotonic_ms() < deadline:
            endpoint = self._leader
            try:
                reply = await self.client.request(endpoint, api, body, retries=0,
                                                  timeout_ms=self.attempt_timeout_ms)
            except KafkaTimeoutError as e:
                last = e.message
                self._leader = self._next(endpoint)
                continue
            if reply.error != "NOT_CONTROLLER":
                return reply
            hint = reply.body.get("leader_endpoint")
            last = f"{endpoint} is not the controller"
            self._leader = hint if hint in self.endpoints else self._next(endpoint)
            if not hint:  # an election is under way: give it a moment
                await asyncio.sleep(self.retry_backoff_ms / 1000)
        raise KafkaTimeoutError(f"no controller within {self.timeout_ms} ms: {last}")

    async def write(self, command: dict[str, Any]) -> dict[str, Any]:
        """Commit a metadata command; returns its result, raising KafkaError on an error."""
        reply = await self.call_controller(ApiKey.CONTROLLER_WRITE, {"command": command})
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        return reply.body

    async def poll_metadata(self, after_offset: int, max_wait_ms: int) -> Message:
        """Committed metadata changes after `after_offset`, from any coordinator."""
        endpoint = self._reader
        try:
            return await self.client.request(
                endpoint, ApiKey.METADATA_POLL,
                {"after_offset": after_offset, "max_wait_ms": max_wait_ms},
                retries=0, timeout_ms=max_wait_ms + self.attempt_timeout_ms)
        except KafkaTimeoutError:
            self._reader = self._next(endpoint)
            raise

    async def read_metadata(self, *, endpoint: str | None = None,
                            linearizable: bool = False) -> MetadataImage:
        """The whole committed metadata image: from `endpoint` (or the usual reader), or,
        with `linearizable`, from the controller after it confirms its leadership."""
        body = {"after_offset": -1, "max_wait_ms": 0, "linearizable": linearizable}
        if linearizable:
            reply = await self.call_controller(ApiKey.METADATA_POLL, body)
        else:
            reply = await self.client.request(endpoint or self._reader, ApiKey.METADATA_POLL,
                                              body, retries=0,
                                              timeout_ms=self.attempt_timeout_ms)
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        return MetadataImage.from_snapshot(reply.body["snapshot"])

    def _next(self, endpoint: str) -> str:
        i = self.endpoints.index(endpoint) if endpoint in self.endpoints else -1
        return self.endpoints[(i + 1) % len(self.endpoints)]

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
    def __init__(self, client: Client, endpoints: dict[str, str], *, timeout_ms: int,
                 attempt_timeout_ms: int, retry_backoff_ms: int, clock, reader_index: int = 0):
        """endpoints: coordinator name -> endpoint. reader_index: which coordinator to
        follow metadata from first (brokers pass their id, so 100 brokers' long polls
        are spread over the ensemble rather than all held by the first coordinator)."""
        assert endpoints, "no coordinator endpoints"
        self.client = client
        self.names = dict(endpoints)
        self.endpoints = list(endpoints.values())
        self.timeout_ms = timeout_ms
        self.attempt_timeout_ms = attempt_timeout_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.clock = clock
        self._leader: str | None = None  # unknown until discovered
        self._reader = self.endpoints[reader_index % len(self.endpoints)]

    async def _discover_leader(self) -> str:
        """Ask every coordinator at once who leads; one that is down costs one attempt
        timeout in parallel, not one per coordinator in turn."""
        async def ask(endpoint: str):
            try:
                reply = await self.client.request(endpoint, ApiKey.STATUS, retries=0,
                                                  timeout_ms=self.attempt_timeout_ms)
            except KafkaError:
                return endpoint, None
            return endpoint, reply.body

        answered = []
        pending = [asyncio.ensure_future(ask(e)) for e in self.endpoints]
        try:
            for next_done in asyncio.as_completed(pending):
                endpoint, body = await next_done
                if body is None:
                    continue
                if body.get("raft_role") == "leader":
                    return endpoint  # (a deposed leader's NOT_CONTROLLER redirects us)
                answered.append(body.get("leader") and self._endpoint_of(body["leader"]))
        finally:
            for task in pending:
                task.cancel()
        hinted = [e for e in answered if e]
        return hinted[0] if hinted else self.endpoints[0]

    def _endpoint_of(self, name: str) -> str | None:
        return self.names.get(name)

    async def call_controller(self, api: int, body: dict[str, Any]) -> Message:
        """Send to the controller, following redirects, until a reply that is not
        NOT_CONTROLLER or the timeout; the reply may carry another error."""
        deadline = self.clock.monotonic_ms() + self.timeout_ms
        last = "no coordinator answered"
        while self.clock.monotonic_ms() < deadline:
            if self._leader is None:
                self._leader = await self._discover_leader()
            endpoint = self._leader
            try:
                reply = await self.client.request(endpoint, api, body, retries=0,
                                                  timeout_ms=self.attempt_timeout_ms)
            except KafkaError as e:
                if not e.retriable:
                    raise
                last = e.message
                self._leader = None  # rediscover: it may have died (timeout, refused, dropped)
                await asyncio.sleep(self.retry_backoff_ms / 1000)
                continue
            if reply.error != "NOT_CONTROLLER":
                return reply
            hint = reply.body.get("leader_endpoint")
            last = f"{endpoint} is not the controller"
            self._leader = hint if hint in self.endpoints and hint != endpoint else None
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
        except KafkaError as e:
            if e.retriable:  # silent, refused or dropped: read from the next one
                self._reader = self._next(endpoint)
            raise

    def skip_reader(self) -> None:
        """Follow metadata from the next coordinator: this one is not following."""
        self._reader = self._next(self._reader)

    async def read_metadata(self, *, endpoint: str | None = None,
                            linearizable: bool = False) -> MetadataImage:
        """The whole committed metadata image: from `endpoint` (or the usual reader), or,
        with `linearizable`, from the controller after it confirms its leadership."""
        body = {"after_offset": -1, "max_wait_ms": 0, "linearizable": linearizable}
        if linearizable:
            reply = await self.call_controller(ApiKey.METADATA_POLL, body)
        elif endpoint:
            reply = await self.client.request(endpoint, ApiKey.METADATA_POLL, body, retries=0,
                                              timeout_ms=self.attempt_timeout_ms)
        else:
            reply = await self._from_any(ApiKey.METADATA_POLL, body)
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        return MetadataImage.from_snapshot(reply.body["snapshot"])

    async def _from_any(self, api: int, body: dict[str, Any]) -> Message:
        """Ask coordinators in turn, starting with the last that answered."""
        last: KafkaError | None = None
        for _ in self.endpoints:
            try:
                return await self.client.request(self._reader, api, body, retries=0,
                                                 timeout_ms=self.attempt_timeout_ms)
            except KafkaError as e:
                last = e
                self._reader = self._next(self._reader)
        raise KafkaTimeoutError(f"no coordinator answered: {last}")

    def _next(self, endpoint: str) -> str:
        i = self.endpoints.index(endpoint) if endpoint in self.endpoints else -1
        return self.endpoints[(i + 1) % len(self.endpoints)]

"""A consumer's membership in a group: finding the coordinator, JoinGroup/SyncGroup
(running the assignor when this member leads), background heartbeats, commits and
committed-offset lookups. Runs on the client's event loop; the Consumer drives it.

Errors follow Kafka's consumer: a coordinator that moved or is loading is looked up and
asked again until the request timeout; REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION and
UNKNOWN_MEMBER_ID from a heartbeat mean "rejoin at the next poll"; a commit refused for
those reasons raises CommitFailedError, since the partitions may now belong to someone else.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from mini_kafka.client.assignors import ASSIGNORS
from mini_kafka.client.cluster import ClusterView
from mini_kafka.client.coordinator_link import CoordinatorLink
from mini_kafka.errors import KafkaError
from mini_kafka.kafka_protocol import consumer_protocol
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.client.group")

REJOIN_ERRORS = {"REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID"}


class CommitFailedError(KafkaError):
    """The group rebalanced (or evicted this member) before the commit: the partitions
    may be someone else's now, so the commit is refused. Poll again to rejoin."""

    def __init__(self, error: str, group_id: str):
        super().__init__(error, f"commit to group {group_id!r} refused: the group has "
                                "rebalanced since these records were polled")


class GroupMember:
    def __init__(self, view: ClusterView, group_id: str, *, client_id: str,
                 instance_id: str | None, session_timeout_ms: int,
                 rebalance_timeout_ms: int, heartbeat_interval_ms: int,
                 assignors: list[str], request_timeout_ms: int, retry_backoff_ms: int,
                 clock):
        unknown = [a for a in assignors if a not in ASSIGNORS]
        if unknown or not assignors:
            raise ValueError(f"partition_assignment_strategy {assignors!r}: choose from "
                             f"{sorted(ASSIGNORS)}")
        self.view, self.group_id, self.client_id = view, group_id, client_id
        self.instance_id = instance_id
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.assignors = list(assignors)
        self.request_timeout_ms, self.retry_backoff_ms = request_timeout_ms, retry_backoff_ms
        self.clock = clock
        self.member_id = ""
        self.generation = -1
        self.protocol: str | None = None
        self.needs_rejoin = True
        self.rebalancing = False
        self.link = CoordinatorLink(view, group_id, request_timeout_ms, retry_backoff_ms)
        self.last_poll_ms = clock.monotonic_ms()
        self._heartbeats: asyncio.Task | None = None

    async def call(self, api: int, body: dict[str, Any], timeout_ms: int | None = None
                   ) -> dict[str, Any]:
        return await self.link.call(api, body, timeout_ms)

    # -- joining --------------------------------------------------------------------------

    async def join(self, topics: list[str], owned: list[tuple[str, int]]
                   ) -> list[tuple[str, int]]:
        """Join (or rejoin) and return this member's assignment for the new generation."""
        self.rebalancing = True
        try:
            while True:
                assignment = await self._join_once(topics, owned)
                if assignment is not None:
                    self.needs_rejoin = False
                    self._start_heartbeats()
                    return assignment
                await asyncio.sleep(self.retry_backoff_ms / 1000)
        finally:
            self.rebalancing = False

    async def _join_once(self, topics, owned) -> list[tuple[str, int]] | None:
        metadata = consumer_protocol.subscription_text(topics, owned)
        join = await self.call(ApiKey.JOIN_GROUP, {
            "group_id": self.group_id, "member_id": self.member_id,
            "group_instance_id": self.instance_id,
            "session_timeout_ms": self.session_timeout_ms,
            "rebalance_timeout_ms": self.rebalance_timeout_ms, "host": socket.gethostname(),
            "protocols": [{"name": a, "metadata": metadata} for a in self.assignors]},
            timeout_ms=self.rebalance_timeout_ms + self.request_timeout_ms)
        if join["error"] == "UNKNOWN_MEMBER_ID":
            self.member_id = ""
            return None
        if join["error"] in REJOIN_ERRORS:
            return None
        if join["error"] != "NONE":
            raise KafkaError(join["error"], f"joining group {self.group_id!r}: "
                                            f"{join.get('message', '')}")
        self.member_id, self.generation = join["member_id"], join["generation"]
        self.protocol = join["protocol"]
        assignments = None
        if join["leader"] == self.member_id:
            assignments = await self._assign(join["members"])
        sync = await self.call(ApiKey.SYNC_GROUP, {
            "group_id": self.group_id, "member_id": self.member_id,
            "generation": self.generation, "assignments": assignments},
            timeout_ms=self.rebalance_timeout_ms + self.request_timeout_ms)
        if sync["error"] == "UNKNOWN_MEMBER_ID":
            self.member_id = ""
        if sync["error"] != "NONE":
            if sync["error"] in REJOIN_ERRORS:
                return None
            raise KafkaError(sync["error"], f"syncing group {self.group_id!r}")
        assignment = consumer_protocol.assignment_from_text(sync["assignment"])
        log.info("group %s generation %d: %s assigned %s", self.group_id, self.generation,
                 self.member_id, assignment)
        return assignment

    async def _assign(self, members: list[dict]) -> dict[str, Any]:
        subscriptions = {m["member_id"]: consumer_protocol.subscription_from_text(m["metadata"])
                         for m in members}
        topics = sorted({t for s in subscriptions.values() for t in s["topics"]})
        counts = {}
        for topic in topics:
            try:
                counts[topic] = len(await self.view.partitions_for(topic,
                                                                    self.request_timeout_ms))
            except KafkaError as e:  # a member's topic that does not exist gets nothing
                log.warning("group %s: cannot assign %s: %s", self.group_id, topic, e)
        plan = ASSIGNORS[self.protocol](subscriptions, counts)
        return {m: consumer_protocol.assignment_text(tps) for m, tps in plan.items()}

    # -- staying in -----------------------------------------------------------------------

    def _start_heartbeats(self) -> None:
        if self._heartbeats is None or self._heartbeats.done():
            self._heartbeats = asyncio.ensure_future(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_ms / 1000)
            if self.rebalancing or self.generation < 0 or not self.member_id:
                continue
            if self.clock.monotonic_ms() - self.last_poll_ms > self.rebalance_timeout_ms:
                await self._leave_stuck()
                continue
            try:
                answer = await self.call(ApiKey.HEARTBEAT, {
                    "group_id": self.group_id, "member_id": self.member_id,
                    "generation": self.generation})
            except KafkaError as e:
                log.info("group %s heartbeat: %s", self.group_id, e)
                continue
            if answer["error"] == "UNKNOWN_MEMBER_ID":
                self.member_id, self.generation = "", -1
            if answer["error"] != "NONE":
                log.info("group %s: %s: rejoining at the next poll", self.group_id,
                         answer["error"])
                self.needs_rejoin = True

    async def _leave_stuck(self) -> None:
        """No poll within max_poll_interval_ms: this member is stuck, so it leaves and
        its partitions go to the others (Kafka's consumer does the same)."""
        log.warning("group %s: no poll for more than max_poll_interval_ms = %d: leaving the "
                    "group; the next poll rejoins", self.group_id, self.rebalance_timeout_ms)
        await self._send_leave()

    async def _send_leave(self) -> None:
        member_id, self.member_id, self.generation = self.member_id, "", -1
        self.needs_rejoin = True
        try:
            await self.call(ApiKey.LEAVE_GROUP, {"group_id": self.group_id,
                                                 "member_id": member_id})
        except KafkaError as e:
            log.info("group %s: leave not confirmed: %s", self.group_id, e)

    async def leave(self) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
        if not self.member_id or self.instance_id is not None:
            return  # a static member keeps its place for a restart (KIP-345)
        await self._send_leave()

    # -- offsets --------------------------------------------------------------------------

    async def commit(self, offsets: dict[tuple[str, int], tuple[int, str]]) -> None:
        if not offsets:
            return
        answer = await self.call(ApiKey.OFFSET_COMMIT, {
            "group_id": self.group_id, "member_id": self.member_id,
            "generation": self.generation,
            "offsets": [{"topic": t, "partition": p, "offset": o, "metadata": m}
                        for (t, p), (o, m) in sorted(offsets.items())]})
        errors = {r["error"] for r in answer.get("partitions", [])} - {"NONE"}
        if answer["error"] != "NONE":
            errors.add(answer["error"])
        for error in sorted(errors):
            if error in REJOIN_ERRORS:
                self.needs_rejoin = True
                if error == "UNKNOWN_MEMBER_ID":
                    self.member_id, self.generation = "", -1
                raise CommitFailedError(error, self.group_id)
            raise KafkaError(error, f"commit to group {self.group_id!r}")

    async def committed(self, tps: list[tuple[str, int]] | None
                        ) -> dict[tuple[str, int], tuple[int, str]]:
        """Committed (offset, metadata) per partition; partitions with none are left out.
        Waits while a transaction may still change one (UNSTABLE_OFFSET_COMMIT)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_ms / 1000
        while True:
            answer = await self.call(ApiKey.OFFSET_FETCH, {
                "group_id": self.group_id,
                "partitions": None if tps is None else [{"topic": t, "partition": p}
                                                        for t, p in tps]})
            if answer["error"] != "NONE":
                raise KafkaError(answer["error"], f"offsets of group {self.group_id!r}")
            errors = {r.get("error", "NONE") for r in answer["partitions"]} - {"NONE"}
            if not errors:
                return {(r["topic"], r["partition"]): (r["offset"], r["metadata"])
                        for r in answer["partitions"] if r["offset"] >= 0}
            if errors != {"UNSTABLE_OFFSET_COMMIT"} or loop.time() > deadline:
                raise KafkaError(sorted(errors)[0], f"offsets of group {self.group_id!r}")
            await asyncio.sleep(self.retry_backoff_ms / 1000)

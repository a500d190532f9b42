"""What the group and transaction coordinators share: each owns the keys (group ids,
transactional ids) that hash to the partitions of an internal topic this broker leads.

On leading such a partition it replays it (`_replay` per record) before answering for its
keys — COORDINATOR_LOAD_IN_PROGRESS until then — and on losing it (or leading it again in
a newer epoch, when someone else may have written in between) it forgets them
(`_unloaded`) so clients look for the new coordinator. Writes go to the partition with
acks=all. The topic is created by the cluster on first need, as Kafka does.
"""

from __future__ import annotations

import asyncio
import logging

from mini_kafka import records
from mini_kafka.broker.offsets_topic import partition_for
from mini_kafka.broker.partition import LEADER
from mini_kafka.broker.replica_storage import STORAGE_ERRORS
from mini_kafka.errors import KafkaError
from mini_kafka.metadata import MetadataImage

log = logging.getLogger("mini_kafka.broker.coordinators")

LOAD_READ_BYTES = 1024 * 1024
# How an append error on an internal topic reads to the client (Kafka's mapping).
APPEND_ERRORS = {"NOT_LEADER_OR_FOLLOWER": "NOT_COORDINATOR",
                 "FENCED_LEADER_EPOCH": "NOT_COORDINATOR",
                 "UNKNOWN_TOPIC_OR_PARTITION": "COORDINATOR_NOT_AVAILABLE",
                 "NOT_ENOUGH_REPLICAS": "COORDINATOR_NOT_AVAILABLE",
                 "NOT_ENOUGH_REPLICAS_AFTER_APPEND": "COORDINATOR_NOT_AVAILABLE",
                 "KAFKA_STORAGE_ERROR": "NOT_COORDINATOR",
                 "REQUEST_TIMED_OUT": "COORDINATOR_NOT_AVAILABLE",
                 "MESSAGE_TOO_LARGE": "INVALID_COMMIT_OFFSET_SIZE",
                 "RECORD_LIST_TOO_LARGE": "INVALID_COMMIT_OFFSET_SIZE",
                 "INVALID_PRODUCER_EPOCH": "PRODUCER_FENCED"}


class InternalTopicOwner:
    topic: str  # set by subclasses
    what: str  # "group" / "transactional id", for messages

    def __init__(self, role):
        self.role = role
        self.name = role.node.name
        self.clock = role.node.clock
        self.timeouts = role.config.timeouts
        self.loaded: dict[int, int] = {}  # partition -> leader epoch it was loaded in
        self.loading: dict[int, asyncio.Task] = {}
        self.loading_epochs: dict[int, int] = {}
        self._creating: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []

    # -- subclass hooks -------------------------------------------------------------------

    def _configured_partitions(self) -> int:
        raise NotImplementedError

    def _topic_configs(self, replication_factor: int) -> dict[str, str]:
        raise NotImplementedError

    def _replay(self, p: int, header: records.BatchHeader, rec: records.Record) -> None:
        raise NotImplementedError

    def _loaded(self, p: int) -> None:
        """Partition p is replayed; its keys are ours from now on."""

    def _unloaded(self, p: int, keys_of) -> None:
        """Partition p is no longer ours; `keys_of(key)` tells if a key lives on it."""

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        for task in [*self._tasks, *self.loading.values()]:
            task.cancel()

    def _spawn(self, coro, forever: bool = False) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(self.role.node.supervisor.spawn(coro, f"{self.topic} "
                                                           f"{coro.__qualname__}", forever=forever))

    # -- which keys are ours --------------------------------------------------------------

    def partition_count(self) -> int:
        return len(self.role.image.topic_partitions(self.topic)) or \
            self._configured_partitions()

    def partition_of(self, key: str) -> int:
        return partition_for(key, self.partition_count())

    def own(self, key: str) -> int:
        """The partition of a key this broker serves now, or Kafka's error."""
        if not key:
            raise KafkaError("INVALID_REQUEST", f"the {self.what} must not be empty")
        if self.topic not in self.role.image.topics:
            raise KafkaError("COORDINATOR_NOT_AVAILABLE", f"{self.topic} does not exist yet")
        p = self.partition_of(key)
        if p in self.loaded:
            return p
        if p in self.loading:
            raise KafkaError("COORDINATOR_LOAD_IN_PROGRESS", f"loading {self.topic}-{p}")
        raise KafkaError("NOT_COORDINATOR", f"{self.name} does not coordinate {self.what} "
                                            f"{key!r}")

    def on_metadata(self, image: MetadataImage) -> None:
        leading = {p: part.leader_epoch
                   for (topic, p), part in self.role.replicas.partitions.items()
                   if topic == self.topic and part.role == LEADER}
        for p, epoch in [*self.loaded.items(), *self.loading_epochs.items()]:
            if leading.get(p) != epoch:
                self._unload(p)
        for p, epoch in leading.items():
            if p not in self.loaded and p not in self.loading:
                self.loading_epochs[p] = epoch
                self.loading[p] = self.role.node.supervisor.spawn(
                    self._load(p, epoch), f"loading {self.topic}-{p}")

    def _unload(self, p: int) -> None:
        task = self.loading.pop(p, None)
        self.loading_epochs.pop(p, None)
        if task is not None:
            task.cancel()
        self.loaded.pop(p, None)
        n = self.partition_count()
        self._unloaded(p, lambda key: partition_for(key, n) == p)
        log.info("%s-%d: no longer its coordinator", self.topic, p)

    async def _load(self, p: int, epoch: int) -> None:
        replicas = self.role.replicas
        part = replicas.partitions.get((self.topic, p))
        if part is None:
            return  # offline here since: the next metadata change unloads it
        offset, end = part.log.log_start_offset, part.log.log_end_offset
        count = 0
        while offset < end:
            if replicas.partitions.get((self.topic, p)) is not part:
                return  # went offline while replaying
            try:
                data = part.log.read(offset, LOAD_READ_BYTES, upto_offset=end)
            except STORAGE_ERRORS as e:
                replicas.storage.fail(part, e)
                return
            if not data:
                break
            for header, rec in records.decode_batches(data):
                offset = max(offset, header.next_offset)
                if rec.offset < end:
                    self._replay(p, header, rec)
                    count += 1
            await asyncio.sleep(0)  # a long replay must not stall the broker
        self.loaded[p] = epoch
        del self.loading[p], self.loading_epochs[p]
        self._loaded(p)
        log.info("%s-%d: coordinator in epoch %d (%d records replayed)", self.topic, p, epoch,
                 count)

    # -- writing --------------------------------------------------------------------------

    async def append(self, p: int, recs: list[tuple[bytes, bytes | None]], *,
                     producer_id: int = -1, producer_epoch: int = -1) -> int:
        """Append records with acks=all; the base offset, or Kafka's error for clients.
        With a producer id they are that producer's transactional records."""
        now = self.clock.wall_ms()
        batch = records.encode_batch([(k, v, now, None) for k, v in recs],
                                     producer_id=producer_id, producer_epoch=producer_epoch,
                                     transactional=producer_id >= 0)
        [result] = await self.role.replicas.produce(
            -1, self.timeouts.request_timeout_ms, [(self.topic, p, batch)])
        if result["error"] != "NONE":
            raise KafkaError(APPEND_ERRORS.get(result["error"], "UNKNOWN_SERVER_ERROR"),
                             f"{self.topic}-{p}: {result['error']} "
                             f"{result.get('message', '')}".strip())
        return result["base_offset"]

    # -- finding the coordinator ----------------------------------------------------------

    async def coordinator_of(self, key: str) -> dict:
        """The broker leading the key's partition, creating the topic on first need."""
        if self.topic not in self.role.image.topics:
            if self._creating is None or self._creating.done():
                self._creating = asyncio.ensure_future(self._create())
            await asyncio.shield(self._creating)  # concurrent finders share one creation
        image = self.role.image
        partitions = image.topic_partitions(self.topic)
        if not partitions:
            raise KafkaError("COORDINATOR_NOT_AVAILABLE", f"{self.topic} is being created")
        p = partitions[partition_for(key, len(partitions))]
        broker = image.brokers.get(p["leader"])
        if broker is None or broker["fenced"]:
            raise KafkaError("COORDINATOR_NOT_AVAILABLE",
                             f"{self.topic}-{p['partition']} has no leader now")
        return {"node_id": broker["id"], "endpoint": broker["endpoint"],
                "partition": p["partition"]}

    async def _create(self) -> None:
        topics = self.role.config.topics
        alive = len(self.role.image.unfenced_broker_ids())
        rf = topics.offsets_topic_replication_factor or min(3, alive)
        n = self._configured_partitions()
        try:
            await self.role.controller.write({
                "op": "create_topic", "name": self.topic, "partitions": n,
                "replication_factor": rf, "configs": self._topic_configs(rf)})
            log.info("created %s (%d partitions, RF %d)", self.topic, n, rf)
        except KafkaError as e:
            if e.error.name != "TOPIC_ALREADY_EXISTS":
                raise KafkaError("COORDINATOR_NOT_AVAILABLE",
                                 f"cannot create {self.topic}: {e}") from None
        await self.role.catch_up_metadata()

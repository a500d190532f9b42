"""The group coordinator on a broker: the shell around the pure GroupCoordinatorState.

This broker coordinates the groups that hash to the `__consumer_offsets` partitions it
leads. When it becomes such a leader it replays the partition (committed offsets and each
group's last membership record) before answering for those groups
(COORDINATOR_LOAD_IN_PROGRESS until then); when it stops leading, the groups are dropped
and their waiting members told NOT_COORDINATOR, so they look for the new one.

Commits are appended to the partition with acks=all and applied only once replicated, so
an acknowledged commit survives the loss of the coordinator.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mini_kafka import records
from mini_kafka.broker import offsets_topic as ot
from mini_kafka.broker.groups import GroupCoordinatorState
from mini_kafka.broker.partition import LEADER
from mini_kafka.errors import KafkaError
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Message

log = logging.getLogger("mini_kafka.broker.groups")

LOAD_READ_BYTES = 1024 * 1024
# How an append error on __consumer_offsets reads to a committing client (Kafka's mapping).
COMMIT_ERRORS = {"NOT_LEADER_OR_FOLLOWER": "NOT_COORDINATOR",
                 "FENCED_LEADER_EPOCH": "NOT_COORDINATOR",
                 "UNKNOWN_TOPIC_OR_PARTITION": "COORDINATOR_NOT_AVAILABLE",
                 "NOT_ENOUGH_REPLICAS": "COORDINATOR_NOT_AVAILABLE",
                 "NOT_ENOUGH_REPLICAS_AFTER_APPEND": "COORDINATOR_NOT_AVAILABLE",
                 "REQUEST_TIMED_OUT": "COORDINATOR_NOT_AVAILABLE",
                 "MESSAGE_TOO_LARGE": "INVALID_COMMIT_OFFSET_SIZE",
                 "RECORD_LIST_TOO_LARGE": "INVALID_COMMIT_OFFSET_SIZE"}


def _field(body: dict, name: str, kind, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ...:
        raise KafkaError("INVALID_REQUEST", f"missing field {name!r}")
    if value is not None and (not isinstance(value, kind) or
                              (kind is int and isinstance(value, bool))):
        raise KafkaError("INVALID_REQUEST", f"field {name!r} must be {kind.__name__}")
    return value


class GroupManager:
    def __init__(self, role):
        self.role = role
        self.name = role.node.name
        self.clock = role.node.clock
        self.timeouts = role.config.timeouts
        rng = role.node.rng
        self.state = GroupCoordinatorState(
            self.timeouts.group_initial_rebalance_delay_ms,
            new_member_id=lambda client_id: f"{client_id}-{rng.getrandbits(64):016x}")
        self.loaded: dict[int, int] = {}  # offsets partition -> leader epoch it was loaded in
        self.loading: dict[int, asyncio.Task] = {}
        self.loading_epochs: dict[int, int] = {}
        self._creating: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self.handlers = {
            ApiKey.FIND_COORDINATOR: self.find_coordinator,
            ApiKey.JOIN_GROUP: self.join_group,
            ApiKey.SYNC_GROUP: self.sync_group,
            ApiKey.HEARTBEAT: self.heartbeat,
            ApiKey.LEAVE_GROUP: self.leave_group,
            ApiKey.OFFSET_COMMIT: self.offset_commit,
            ApiKey.OFFSET_FETCH: self.offset_fetch,
            ApiKey.DESCRIBE_GROUPS: self.describe_groups,
            ApiKey.LIST_GROUPS: self.list_groups,
        }

    def start(self) -> None:
        self._tasks.append(asyncio.ensure_future(self._tick_loop()))

    def close(self) -> None:
        for task in [*self._tasks, *self.loading.values()]:
            task.cancel()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.timeouts.group_tick_interval_ms / 1000)
            try:
                self.state.tick(self.clock.monotonic_ms())
                self._flush()
            except Exception:  # one bad round must not stop the coordinator
                log.exception("group tick failed")

    def _flush(self) -> None:
        """Deliver the core's delayed answers and persist groups that settled."""
        for future, response in self.state.take_completions():
            if not future.done():
                future.set_result(response)
        for group_id in self.state.take_dirty():
            record = ot.group_record(group_id, self.state.snapshot(group_id))
            self._tasks.append(asyncio.ensure_future(self._write_group(group_id, record)))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _write_group(self, group_id: str, record: tuple[bytes, bytes]) -> None:
        try:
            await self._append(ot.partition_for(group_id, self._partition_count()), [record])
        except KafkaError as e:  # a later settle writes it again; a takeover rebalances
            log.warning("group %s: membership record not written: %s", group_id, e)

    # -- which groups are ours --------------------------------------------------------------

    def _partition_count(self) -> int:
        return len(self.role.image.topic_partitions(ot.OFFSETS_TOPIC)) or \
            self.role.config.topics.offsets_topic_num_partitions

    def _own(self, group_id: str) -> int:
        """The offsets partition of a group this broker serves now, or Kafka's error."""
        if not group_id:
            raise KafkaError("INVALID_GROUP_ID", "group id must not be empty")
        if ot.OFFSETS_TOPIC not in self.role.image.topics:
            raise KafkaError("COORDINATOR_NOT_AVAILABLE", f"{ot.OFFSETS_TOPIC} does not exist yet")
        p = ot.partition_for(group_id, self._partition_count())
        if p in self.loaded:
            return p
        if p in self.loading:
            raise KafkaError("COORDINATOR_LOAD_IN_PROGRESS", f"loading {ot.OFFSETS_TOPIC}-{p}")
        raise KafkaError("NOT_COORDINATOR", f"{self.name} does not coordinate {group_id!r}")

    def on_metadata(self, image: MetadataImage) -> None:
        """Load the offsets partitions we now lead; drop those we no longer lead, or lead
        in a newer epoch (someone else may have written in between: replay again)."""
        leading = {p: part.leader_epoch
                   for (topic, p), part in self.role.replicas.partitions.items()
                   if topic == ot.OFFSETS_TOPIC and part.role == LEADER}
        for p, epoch in [*self.loaded.items(), *self.loading_epochs.items()]:
            if leading.get(p) != epoch:
                self._unload(p)
        for p, epoch in leading.items():
            if p not in self.loaded and p not in self.loading:
                self.loading_epochs[p] = epoch
                self.loading[p] = asyncio.ensure_future(self._load(p, epoch))

    def _unload(self, p: int) -> None:
        task = self.loading.pop(p, None)
        self.loading_epochs.pop(p, None)
        if task is not None:
            task.cancel()
        self.loaded.pop(p, None)
        n = self._partition_count()
        self.state.unload([g for g in list(self.state.groups) if ot.partition_for(g, n) == p])
        self._flush()
        log.info("%s-%d: no longer coordinating its groups", ot.OFFSETS_TOPIC, p)

    async def _load(self, p: int, epoch: int) -> None:
        part = self.role.replicas.partitions[(ot.OFFSETS_TOPIC, p)]
        offset, end = part.log.log_start_offset, part.log.log_end_offset
        memberships: dict[str, dict | None] = {}
        count = 0
        while offset < end:
            data = part.log.read(offset, LOAD_READ_BYTES, upto_offset=end)
            if not data:
                break
            for header, rec in records.decode_batches(data):
                offset = max(offset, header.next_offset)
                if rec.offset < end and not header.is_control:
                    count += self._replay(rec, memberships)
            await asyncio.sleep(0)  # a long replay must not stall the broker
        now = self.clock.monotonic_ms()
        for group_id, record in memberships.items():
            if record is not None:
                self.state.restore(group_id, record, now)
        self.loaded[p] = epoch
        del self.loading[p], self.loading_epochs[p]
        log.info("%s-%d: coordinating its groups (epoch %d, %d records replayed)",
                 ot.OFFSETS_TOPIC, p, epoch, count)

    def _replay(self, rec, memberships: dict) -> int:
        parsed = ot.parse(rec.key, rec.value)
        if parsed is None:
            return 0
        kind, group_id, what, content = parsed
        if kind == ot.OFFSET:
            if content is None:
                self.state.group(group_id).offsets.pop(what, None)
            else:
                self.state.apply_commit(group_id, {what: tuple(content)}, rec.offset)
        else:
            memberships[group_id] = content
        return 1

    async def _append(self, p: int, recs: list[tuple[bytes, bytes]]) -> int:
        """Append records to our offsets partition with acks=all; the base offset."""
        now = self.clock.wall_ms()
        batch = records.encode_batch([(k, v, now, None) for k, v in recs])
        [result] = await self.role.replicas.produce(
            -1, self.timeouts.request_timeout_ms, [(ot.OFFSETS_TOPIC, p, batch)])
        if result["error"] != "NONE":
            raise KafkaError(COMMIT_ERRORS.get(result["error"], "UNKNOWN_SERVER_ERROR"),
                             f"{ot.OFFSETS_TOPIC}-{p}: {result['error']} "
                             f"{result.get('message', '')}".strip())
        return result["base_offset"]

    # -- FindCoordinator ------------------------------------------------------------------

    async def find_coordinator(self, req: Message) -> Message:
        key = _field(req.body, "key", str)
        if not key:
            raise KafkaError("INVALID_GROUP_ID", "group id must not be empty")
        if ot.OFFSETS_TOPIC not in self.role.image.topics:
            await self._create_offsets_topic()
        image = self.role.image
        partitions = image.topic_partitions(ot.OFFSETS_TOPIC)
        if not partitions:
            raise KafkaError("COORDINATOR_NOT_AVAILABLE", f"{ot.OFFSETS_TOPIC} is being created")
        p = partitions[ot.partition_for(key, len(partitions))]
        broker = image.brokers.get(p["leader"])
        if broker is None or broker["fenced"]:
            raise KafkaError("COORDINATOR_NOT_AVAILABLE",
                             f"{ot.OFFSETS_TOPIC}-{p['partition']} has no leader now")
        return req.reply({"node_id": broker["id"], "endpoint": broker["endpoint"],
                          "partition": p["partition"]}, sender=self.name)

    async def _create_offsets_topic(self) -> None:
        """Created by the cluster on first need, as Kafka does; concurrent finders share
        one creation."""
        if self._creating is None or self._creating.done():
            self._creating = asyncio.ensure_future(self._create())
        await asyncio.shield(self._creating)

    async def _create(self) -> None:
        topics = self.role.config.topics
        alive = len(self.role.image.unfenced_broker_ids())
        rf = topics.offsets_topic_replication_factor or min(3, alive)
        try:
            await self.role.controller.write({
                "op": "create_topic", "name": ot.OFFSETS_TOPIC,
                "partitions": topics.offsets_topic_num_partitions, "replication_factor": rf,
                "configs": ot.topic_configs(rf, topics.min_insync_replicas)})
            log.info("created %s (%d partitions, RF %d)", ot.OFFSETS_TOPIC,
                     topics.offsets_topic_num_partitions, rf)
        except KafkaError as e:
            if e.error.name != "TOPIC_ALREADY_EXISTS":
                raise KafkaError("COORDINATOR_NOT_AVAILABLE",
                                 f"cannot create {ot.OFFSETS_TOPIC}: {e}") from None
        await self.role.catch_up_metadata()

    # -- membership -----------------------------------------------------------------------

    async def join_group(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        self._own(group_id)
        session_ms = _field(b, "session_timeout_ms", int)
        t = self.timeouts
        if not t.group_min_session_timeout_ms <= session_ms <= t.group_max_session_timeout_ms:
            raise KafkaError("INVALID_SESSION_TIMEOUT",
                             f"session_timeout_ms = {session_ms}: the broker allows "
                             f"{t.group_min_session_timeout_ms}..{t.group_max_session_timeout_ms}")
        protocols = [(_field(p, "name", str), p.get("metadata"))
                     for p in _field(b, "protocols", list)]
        future = asyncio.get_running_loop().create_future()
        self.state.join(future, group_id, _field(b, "member_id", str, ""),
                        client_id=req.sender, instance_id=_field(b, "group_instance_id", str, None),
                        session_timeout_ms=session_ms,
                        rebalance_timeout_ms=_field(b, "rebalance_timeout_ms", int, session_ms),
                        protocols=protocols, now_ms=self.clock.monotonic_ms(),
                        host=_field(b, "host", str, ""))
        self._flush()
        return req.reply(await future, sender=self.name)

    async def sync_group(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        self._own(group_id)
        future = asyncio.get_running_loop().create_future()
        self.state.sync(future, group_id, _field(b, "member_id", str),
                        _field(b, "generation", int), _field(b, "assignments", dict, None),
                        self.clock.monotonic_ms())
        self._flush()
        return req.reply(await future, sender=self.name)

    async def heartbeat(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        self._own(group_id)
        answer = self.state.heartbeat(group_id, _field(b, "member_id", str),
                                      _field(b, "generation", int), self.clock.monotonic_ms())
        return req.reply(answer, sender=self.name)

    async def leave_group(self, req: Message) -> Message:
        group_id = _field(req.body, "group_id", str)
        self._own(group_id)
        answer = self.state.leave(group_id, _field(req.body, "member_id", str),
                                  self.clock.monotonic_ms())
        self._flush()
        return req.reply(answer, sender=self.name)

    # -- offsets --------------------------------------------------------------------------

    async def offset_commit(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        p = self._own(group_id)
        epoch = self.loaded[p]
        offsets = []
        for entry in _field(b, "offsets", list):
            offset = _field(entry, "offset", int)
            if offset < 0:
                raise KafkaError("INVALID_REQUEST", f"offset {offset} must not be negative")
            offsets.append(((_field(entry, "topic", str), _field(entry, "partition", int)),
                            (offset, _field(entry, "metadata", str, "") or "")))
        error = self.state.check_commit(group_id, _field(b, "member_id", str, ""),
                                        _field(b, "generation", int, -1))
        if error == "NONE" and offsets:
            now = self.clock.wall_ms()
            try:
                base = await self._append(p, [ot.offset_record(group_id, t, i, o, m, now)
                                              for (t, i), (o, m) in offsets])
            except KafkaError as e:
                error = e.error.name
            else:
                if self.loaded.get(p) == epoch:  # still ours: nobody replayed past us
                    for i, (tp, value) in enumerate(offsets):
                        self.state.apply_commit(group_id, {tp: value}, base + i)
        return req.reply({"partitions": [{"topic": t, "partition": i, "error": error}
                                         for (t, i), _ in offsets]}, sender=self.name)

    async def offset_fetch(self, req: Message) -> Message:
        group_id = _field(req.body, "group_id", str)
        self._own(group_id)
        committed = self.state.committed(group_id)
        wanted = _field(req.body, "partitions", list, None)
        keys = sorted(committed) if wanted is None else [
            (_field(w, "topic", str), _field(w, "partition", int)) for w in wanted]
        return req.reply({"partitions": [
            {"topic": t, "partition": i, "offset": committed.get((t, i), (-1, ""))[0],
             "metadata": committed.get((t, i), (-1, ""))[1]} for t, i in keys]},
            sender=self.name)

    async def describe_groups(self, req: Message) -> Message:
        out = []
        for group_id in _field(req.body, "groups", list):
            try:
                self._own(group_id)
            except KafkaError as e:
                out.append({"group_id": group_id, "error": e.error.name})
                continue
            out.append({"error": "NONE", **self.state.describe(group_id)})
        return req.reply({"groups": out}, sender=self.name)

    async def list_groups(self, req: Message) -> Message:
        return req.reply({"groups": self.state.list_groups()}, sender=self.name)

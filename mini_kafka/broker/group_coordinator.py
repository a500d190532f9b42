"""The group coordinator on a broker: the shell around the pure GroupCoordinatorState.

This broker coordinates the groups that hash to the `__consumer_offsets` partitions it
leads (see internal_topic.py for loading and handing over). Commits are appended with
acks=all and applied only once replicated, so an acknowledged commit survives the loss
of the coordinator. Offsets committed inside a transaction (TxnOffsetCommit) wait, per
producer, for the transaction's marker: applied on commit, dropped on abort.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mini_kafka import records
from mini_kafka.broker import offsets_topic as ot
from mini_kafka.broker.groups import GroupCoordinatorState
from mini_kafka.broker.internal_topic import InternalTopicOwner
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey, Message

log = logging.getLogger("mini_kafka.broker.groups")


def _field(body: dict, name: str, kind, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ...:
        raise KafkaError("INVALID_REQUEST", f"missing field {name!r}")
    if value is not None and (not isinstance(value, kind) or
                              (kind is int and isinstance(value, bool))):
        raise KafkaError("INVALID_REQUEST", f"field {name!r} must be {kind.__name__}")
    return value


class GroupManager(InternalTopicOwner):
    topic = ot.OFFSETS_TOPIC
    what = "group"

    def __init__(self, role):
        super().__init__(role)
        rng = role.node.rng
        self.state = GroupCoordinatorState(
            self.timeouts.group_initial_rebalance_delay_ms,
            new_member_id=lambda client_id: f"{client_id}-{rng.getrandbits(64):016x}")
        self._memberships: dict[str, dict | None] = {}  # replayed, restored once loaded
        # producer id -> {(group, topic, partition): ((offset, metadata), log offset)}
        self.pending_txn_offsets: dict[int, dict[tuple[str, str, int], tuple]] = {}
        self._timers_may_run = asyncio.Event()  # set when the state may have started one
        self.handlers = {
            ApiKey.JOIN_GROUP: self.join_group,
            ApiKey.SYNC_GROUP: self.sync_group,
            ApiKey.HEARTBEAT: self.heartbeat,
            ApiKey.LEAVE_GROUP: self.leave_group,
            ApiKey.OFFSET_COMMIT: self.offset_commit,
            ApiKey.TXN_OFFSET_COMMIT: self.txn_offset_commit,
            ApiKey.OFFSET_FETCH: self.offset_fetch,
            ApiKey.DESCRIBE_GROUPS: self.describe_groups,
            ApiKey.LIST_GROUPS: self.list_groups,
            ApiKey.DELETE_GROUPS: self.delete_groups,
        }

    def start(self) -> None:
        self._spawn(self._tick_loop(), forever=True)

    async def _tick_loop(self) -> None:
        while True:
            # With no member and no rebalance, a tick has nothing to expire: sleep until
            # a request or a restore changes that (a broker without groups stays idle).
            if not self.state.has_timers():
                self._timers_may_run.clear()
                await self._timers_may_run.wait()
            await asyncio.sleep(self.timeouts.group_tick_interval_ms / 1000)
            try:
                self.state.tick(self.clock.monotonic_ms())
                self._flush()
            except Exception:  # one bad round must not stop the coordinator
                log.exception("group tick failed")

    def _flush(self) -> None:
        """Deliver the core's delayed answers and persist groups that settled; called
        after every request that may start a timer, so it wakes the tick loop too."""
        self._timers_may_run.set()
        for future, response in self.state.take_completions():
            if not future.done():
                future.set_result(response)
        for group_id in self.state.take_dirty():
            record = ot.group_record(group_id, self.state.snapshot(group_id))
            self._spawn(self._write_group(group_id, record))

    async def _write_group(self, group_id: str, record: tuple[bytes, bytes]) -> None:
        try:
            await self.append(self.partition_of(group_id), [record])
        except KafkaError as e:  # a later settle writes it again; a takeover rebalances
            log.warning("group %s: membership record not written: %s", group_id, e)

    # -- loading (InternalTopicOwner hooks) -----------------------------------------------

    def _configured_partitions(self) -> int:
        return self.role.config.topics.offsets_topic_num_partitions

    def _topic_configs(self, replication_factor: int) -> dict[str, str]:
        return ot.topic_configs(replication_factor, self.role.config.topics.min_insync_replicas)

    def _replay(self, p: int, header: records.BatchHeader, rec: records.Record) -> None:
        if header.is_control:
            self.on_txn_marker(p, header.producer_id, records.is_commit_marker_key(rec.key))
            return
        parsed = ot.parse(rec.key, rec.value)
        if parsed is None:
            return
        kind, group_id, what, content = parsed
        if kind == ot.GROUP:
            self._memberships[group_id] = content
        elif header.is_transactional and content is not None:
            self.pending_txn_offsets.setdefault(header.producer_id, {})[
                (group_id, *what)] = (tuple(content), rec.offset)
        elif content is None:
            self.state.group(group_id).offsets.pop(what, None)
        else:
            self.state.apply_commit(group_id, {what: tuple(content)}, rec.offset)

    def _loaded(self, p: int) -> None:
        now = self.clock.monotonic_ms()
        for group_id, record in list(self._memberships.items()):
            if record is not None and self.partition_of(group_id) == p:
                self.state.restore(group_id, record, now)
                del self._memberships[group_id]
        self._timers_may_run.set()

    def _unloaded(self, p: int, keys_of) -> None:
        self.state.unload([g for g in list(self.state.groups) if keys_of(g)])
        for pending in self.pending_txn_offsets.values():
            for key in [k for k in pending if keys_of(k[0])]:
                del pending[key]
        self._flush()

    def on_txn_marker(self, p: int, producer_id: int, commit: bool) -> None:
        """A transaction of `producer_id` ended on offsets partition p."""
        pending = self.pending_txn_offsets.get(producer_id, {})
        for key in [k for k in pending if self.partition_of(k[0]) == p]:
            value, log_offset = pending.pop(key)
            if commit:
                group_id, topic, partition = key
                self.state.apply_commit(group_id, {(topic, partition): value}, log_offset)
        if not pending:
            self.pending_txn_offsets.pop(producer_id, None)

    # -- membership -----------------------------------------------------------------------

    async def join_group(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        self.own(group_id)
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
                        host=_field(b, "host", str, ""),
                        protocol_type=_field(b, "protocol_type", str, "consumer"))
        self._flush()
        return req.reply(await future, sender=self.name)

    async def sync_group(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        self.own(group_id)
        future = asyncio.get_running_loop().create_future()
        self.state.sync(future, group_id, _field(b, "member_id", str),
                        _field(b, "generation", int), _field(b, "assignments", dict, None),
                        self.clock.monotonic_ms())
        self._flush()
        return req.reply(await future, sender=self.name)

    async def heartbeat(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        self.own(group_id)
        answer = self.state.heartbeat(group_id, _field(b, "member_id", str),
                                      _field(b, "generation", int), self.clock.monotonic_ms())
        return req.reply(answer, sender=self.name)

    async def leave_group(self, req: Message) -> Message:
        group_id = _field(req.body, "group_id", str)
        self.own(group_id)
        answer = self.state.leave(group_id, _field(req.body, "member_id", str, ""),
                                  self.clock.monotonic_ms(),
                                  _field(req.body, "group_instance_id", str, None))
        self._flush()
        return req.reply(answer, sender=self.name)

    # -- offsets --------------------------------------------------------------------------

    @staticmethod
    def _offsets(body: dict) -> list[tuple[tuple[str, int], tuple[int, str]]]:
        out = []
        for entry in _field(body, "offsets", list):
            offset = _field(entry, "offset", int)
            if offset < 0:
                raise KafkaError("INVALID_REQUEST", f"offset {offset} must not be negative")
            out.append(((_field(entry, "topic", str), _field(entry, "partition", int)),
                        (offset, _field(entry, "metadata", str, "") or "")))
        return out

    async def offset_commit(self, req: Message) -> Message:
        b = req.body
        group_id = _field(b, "group_id", str)
        p = self.own(group_id)
        epoch = self.loaded[p]
        offsets = self._offsets(b)
        error = self.state.check_commit(group_id, _field(b, "member_id", str, ""),
                                        _field(b, "generation", int, -1))
        if error == "NONE" and offsets:
            now = self.clock.wall_ms()
            try:
                base = await self.append(p, [ot.offset_record(group_id, t, i, o, m, now)
                                             for (t, i), (o, m) in offsets])
            except KafkaError as e:
                error = e.error.name
            else:
                if self.loaded.get(p) == epoch:  # still ours: nobody replayed past us
                    for i, (tp, value) in enumerate(offsets):
                        self.state.apply_commit(group_id, {tp: value}, base + i)
        return req.reply({"partitions": [{"topic": t, "partition": i, "error": error}
                                         for (t, i), _ in offsets]}, sender=self.name)

    async def txn_offset_commit(self, req: Message) -> Message:
        """Offsets inside a transaction: written as the producer's transactional records,
        applied when its commit marker reaches this partition. A member of an older
        generation is refused (KIP-447), so a zombie cannot commit its input."""
        b = req.body
        group_id = _field(b, "group_id", str)
        p = self.own(group_id)
        epoch = self.loaded[p]
        pid, producer_epoch = _field(b, "producer_id", int), _field(b, "producer_epoch", int)
        offsets = self._offsets(b)
        member_id = _field(b, "member_id", str, "")
        error = self.state.check_commit(group_id, member_id, _field(b, "generation", int, -1)) \
            if member_id else "NONE"
        if error == "NONE" and offsets:
            now = self.clock.wall_ms()
            try:
                base = await self.append(p, [ot.offset_record(group_id, t, i, o, m, now)
                                             for (t, i), (o, m) in offsets],
                                         producer_id=pid, producer_epoch=producer_epoch)
            except KafkaError as e:
                error = e.error.name
            else:
                if self.loaded.get(p) == epoch:
                    pending = self.pending_txn_offsets.setdefault(pid, {})
                    for n, ((topic, partition), value) in enumerate(offsets):
                        pending[(group_id, topic, partition)] = (value, base + n)
        return req.reply({"partitions": [{"topic": t, "partition": i, "error": error}
                                         for (t, i), _ in offsets]}, sender=self.name)

    async def offset_fetch(self, req: Message) -> Message:
        group_id = _field(req.body, "group_id", str)
        self.own(group_id)
        committed = self.state.committed(group_id)
        wanted = _field(req.body, "partitions", list, None)
        keys = sorted(committed) if wanted is None else [
            (_field(w, "topic", str), _field(w, "partition", int)) for w in wanted]
        # KIP-447: an offset a transaction may still change is unstable; the reader asks
        # again, so a new owner never starts before a commit that is already decided.
        unstable = {(t, i) for pending in self.pending_txn_offsets.values()
                    for g, t, i in pending if g == group_id}
        return req.reply({"partitions": [
            {"topic": t, "partition": i, "offset": committed.get((t, i), (-1, ""))[0],
             "metadata": committed.get((t, i), (-1, ""))[1],
             "error": "UNSTABLE_OFFSET_COMMIT" if (t, i) in unstable else "NONE"}
            for t, i in keys]}, sender=self.name)

    async def describe_groups(self, req: Message) -> Message:
        out = []
        for group_id in _field(req.body, "groups", list):
            try:
                self.own(group_id)
            except KafkaError as e:
                out.append({"group_id": group_id, "error": e.error.name})
                continue
            out.append({"error": "NONE", **self.state.describe(group_id)})
        return req.reply({"groups": out}, sender=self.name)

    async def list_groups(self, req: Message) -> Message:
        return req.reply({"groups": self.state.list_groups()}, sender=self.name)

    async def delete_groups(self, req: Message) -> Message:
        """Delete one empty group: tombstones for its offsets and membership, written with
        acks=all, then forgotten here (Kafka's DeleteGroups)."""
        group_id = _field(req.body, "group_id", str)
        p = self.own(group_id)
        group = self.state.groups.get(group_id)
        if group is not None and group.members:
            raise KafkaError("NON_EMPTY_GROUP", f"group {group_id!r} has "
                                                f"{len(group.members)} member(s)")
        if group is None:
            raise KafkaError("GROUP_ID_NOT_FOUND", f"no group {group_id!r}")
        tombstones = [(ot.offset_record(group_id, t, i, 0, "", 0)[0], None)
                      for t, i in sorted(group.offsets)]
        tombstones.append((ot.group_record(group_id, {})[0], None))
        await self.append(p, tombstones)
        error = self.state.delete(group_id)
        if error != "NONE":
            raise KafkaError(error, f"group {group_id!r}")
        return req.reply({}, sender=self.name)

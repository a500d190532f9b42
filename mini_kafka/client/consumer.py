"""The Consumer: assign partitions or subscribe as a group member, seek, poll, commit —
kafka-python's names.

poll() fetches from each partition's leader at once (one request per leader), returns
records at or after each position, and moves the positions on. A position with no
starting point is reset by auto_offset_reset ('earliest', 'latest', or 'none' to raise).
When a leader moves, the consumer refreshes its metadata and carries on from the same
position: it never skips or repeats a record because of it.

With a group_id and subscribe(), partitions come from the group (see group_member.py):
each poll first rejoins if the group is rebalancing — calling on_revoke before partitions
go and on_assign after new ones arrive, on the caller's thread — and starts each new
partition at the group's committed offset (auto_offset_reset when there is none). With
enable_auto_commit, the positions reached are committed every auto_commit_interval_ms at
poll, before revoking, and at close: records are processed at least once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref

from mini_kafka import records
from mini_kafka.client import arguments, runtime
from mini_kafka.client.cluster import ClusterView, parse_bootstrap
from mini_kafka.client.consumer_group import GroupConsumer
from mini_kafka.client.fetched import UndecodableBatchError, decode_fetched
from mini_kafka.client.group_member import GroupMember
from mini_kafka.client.runtime import Runtime
from mini_kafka.client.types import ConsumerRecord, TopicPartition
from mini_kafka.clock import SystemClock
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.client.consumer")

EARLIEST, LATEST = -2, -1


class OffsetOutOfRangeError(KafkaError):
    def __init__(self, tp: TopicPartition, message: str):
        super().__init__("OFFSET_OUT_OF_RANGE", f"{tp.topic}-{tp.partition}: {message}")
        self.partition = tp


class CorruptRecordBatchError(KafkaError):
    """poll() met a batch it cannot read (corrupt, or compressed with a codec this build
    cannot decode). As with Kafka's consumer, the position stays before it; seek to
    `next_offset` to skip it."""

    def __init__(self, tp: TopicPartition, batch: UndecodableBatchError):
        super().__init__("CORRUPT_MESSAGE", f"{tp.topic}-{tp.partition}: {batch}")
        self.partition = tp
        self.base_offset, self.next_offset = batch.base_offset, batch.next_offset
        self.compression, self.reason = batch.compression, batch.reason


def _raise_unless_retriable(reply, api: str) -> None:
    """A whole request refused: raise unless a retry (after fresh metadata) may help."""
    error = KafkaError(reply.error, f"{api} from {reply.sender}: {reply.body.get('message', '')}")
    if not (error.retriable or error.refresh_metadata):
        raise error


def _abandoned(rt: Runtime, view: ClusterView, group: GroupMember | None,
               positions: dict | None, timeout_s: float) -> None:
    """A consumer collected without close(): what close() does, without waiting for it."""
    async def commit_and_leave() -> None:
        try:
            if positions:
                await group.commit({tuple(tp): (offset, "") for tp, offset in positions.items()})
        except KafkaError as e:
            log.warning("group %s: auto-commit of a consumer dropped unclosed failed: %s",
                        group.group_id, e)
        await group.leave()

    rt.close_soon(view.close, farewell=None if group is None else commit_and_leave,
                  farewell_timeout_s=timeout_s)


class Consumer(GroupConsumer):
    def __init__(self, *topics: str, bootstrap_servers, auto_offset_reset: str = "latest",
                 fetch_max_wait_ms: int = 500, fetch_min_bytes: int = 1,
                 fetch_max_bytes: int = 50 * 1024 * 1024,
                 max_partition_fetch_bytes: int = 1024 * 1024, request_timeout_ms: int = 30_000,
                 retry_backoff_ms: int = 100, key_deserializer=None, value_deserializer=None,
                 client_id: str | None = None, group_id: str | None = None,
                 group_instance_id: str | None = None, enable_auto_commit: bool = True,
                 auto_commit_interval_ms: int = 5000,
                 partition_assignment_strategy=("range", "cooperative-sticky"),
                 session_timeout_ms: int = 10_000, heartbeat_interval_ms: int = 3000,
                 max_poll_interval_ms: int = 300_000, isolation_level: str = "read_uncommitted",
                 exit_timeout_ms: int = 5_000, clock=None):
        arguments.topic_names(topics, "topics")
        for name, value, minimum in (
                ("fetch_max_wait_ms", fetch_max_wait_ms, 0),
                ("fetch_min_bytes", fetch_min_bytes, 0),
                ("fetch_max_bytes", fetch_max_bytes, 1),
                ("max_partition_fetch_bytes", max_partition_fetch_bytes, 1),
                ("request_timeout_ms", request_timeout_ms, 1),
                ("retry_backoff_ms", retry_backoff_ms, 0),
                ("auto_commit_interval_ms", auto_commit_interval_ms, 1),
                ("session_timeout_ms", session_timeout_ms, 1),
                ("heartbeat_interval_ms", heartbeat_interval_ms, 1),
                ("max_poll_interval_ms", max_poll_interval_ms, 1),
                ("exit_timeout_ms", exit_timeout_ms, 0)):
            arguments.integer(value, name, minimum)
        if group_id is not None and (not isinstance(group_id, str) or not group_id):
            raise TypeError(f"group_id must be a non-empty str or None, got {group_id!r}")
        if auto_offset_reset not in ("earliest", "latest", "none"):
            raise ValueError(f"auto_offset_reset={auto_offset_reset!r}: must be 'earliest', "
                             "'latest' or 'none'")
        if isolation_level not in ("read_uncommitted", "read_committed"):
            raise ValueError(f"isolation_level={isolation_level!r}: must be "
                             "'read_uncommitted' or 'read_committed'")
        self.read_committed = isolation_level == "read_committed"
        if heartbeat_interval_ms >= session_timeout_ms:
            raise ValueError(f"heartbeat_interval_ms={heartbeat_interval_ms} must be less "
                             f"than session_timeout_ms={session_timeout_ms}")
        self.auto_offset_reset = auto_offset_reset
        self.exit_timeout_s = exit_timeout_ms / 1000
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_bytes = fetch_max_bytes
        self.max_partition_fetch_bytes = max_partition_fetch_bytes
        self.request_timeout_ms = request_timeout_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.key_deserializer, self.value_deserializer = key_deserializer, value_deserializer
        self.client_id = client_id or f"consumer-{uuid.uuid4().hex[:8]}"
        self.clock = clock or SystemClock()
        self._view = ClusterView(self.client_id, parse_bootstrap(bootstrap_servers),
                                 request_timeout_ms=request_timeout_ms,
                                 retry_backoff_ms=retry_backoff_ms)
        self.group_id = group_id
        self._group = None if group_id is None else GroupMember(
            self._view, group_id, client_id=self.client_id, instance_id=group_instance_id,
            session_timeout_ms=session_timeout_ms, rebalance_timeout_ms=max_poll_interval_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            assignors=list(partition_assignment_strategy),
            request_timeout_ms=request_timeout_ms, retry_backoff_ms=retry_backoff_ms,
            clock=self.clock)
        self.enable_auto_commit = enable_auto_commit and group_id is not None
        self.auto_commit_interval_ms = auto_commit_interval_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self._next_auto_commit_ms = self.clock.monotonic_ms() + auto_commit_interval_ms
        self._runtime = Runtime(self.client_id)
        self._assigned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        # Fetched, not yet returned: one (partition, its records in order) per fetch answer.
        self._buffered: list[tuple[TopicPartition, list[ConsumerRecord]]] = []
        self._fetches: dict[str, asyncio.Future] = {}  # leader endpoint -> fetch in flight
        self._subscription: list[str] = []
        self._on_assign = self._on_revoke = None
        self._closed = False
        # Dropped without close(), or never closed by exit: commit (with auto-commit)
        # and leave the group, as close() would.
        weakref.finalize(self, _abandoned, self._runtime, self._view, self._group,
                         self._positions if self.enable_auto_commit else None,
                         self.exit_timeout_s).atexit = False
        runtime.close_at_exit(self)
        if topics and group_id is not None:
            self.subscribe(list(topics))
        elif topics:
            self.assign([TopicPartition(t, p) for t in topics
                         for p in self.partitions_for_topic(t)])

    # -- assignment and positions ---------------------------------------------------------

    def assign(self, partitions: list[TopicPartition]) -> None:
        if self._subscription:
            raise KafkaError("INVALID_REQUEST", "assign() after subscribe(): a consumer "
                                                "takes partitions one way or the other")
        partitions = [TopicPartition(*tp) for tp in arguments.topic_partitions(partitions)]
        for tp in partitions:
            if tp.partition not in self.partitions_for_topic(tp.topic):
                raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                                 f"{tp.topic} has no partition {tp.partition}")
        self._set_assignment(partitions)

    def subscribe(self, topics: list[str], on_assign=None, on_revoke=None) -> None:
        """Join the group for these topics; partitions arrive at the next poll.
        on_assign(partitions) / on_revoke(partitions) run on the polling thread."""
        if self._group is None:
            raise KafkaError("INVALID_GROUP_ID", "subscribe() needs a group_id")
        if self._assigned and not self._subscription:
            raise KafkaError("INVALID_REQUEST", "subscribe() after assign()")
        if isinstance(topics, str) or not topics:
            raise ValueError("subscribe() takes a non-empty list of topic names")
        arguments.topic_names(topics)
        for name, fn in (("on_assign", on_assign), ("on_revoke", on_revoke)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self._subscription = sorted(set(topics))
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._group.needs_rejoin = True

    def subscription(self) -> set[str]:
        return set(self._subscription)

    def unsubscribe(self) -> None:
        if self._group is not None and self._subscription:
            self._revoke(list(self._assigned))
            self._runtime.run(self._group.leave())
        self._subscription = []

    def _set_assignment(self, partitions: list[TopicPartition]) -> None:
        self._assigned = partitions
        for tp in [tp for tp in self._positions if tp not in partitions]:
            del self._positions[tp]  # in place: the finalizer commits from this very dict
        self._buffered = [chunk for chunk in self._buffered if chunk[0] in partitions]

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def partitions_for_topic(self, topic: str) -> set[int]:
        arguments.topic_name(topic)
        parts = self._runtime.run(self._view.partitions_for(topic, self.request_timeout_ms))
        return {p.partition for p in parts}

    def topics(self) -> set[str]:
        self._runtime.run(self._view.refresh(None))
        return set(self._view.topics)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._check_assigned(tp)
        self._positions[TopicPartition(*tp)] = arguments.integer(offset, "offset", 0)
        self._drop_buffered(tp)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self._seek_to(partitions or self._assigned, EARLIEST)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        self._seek_to(partitions or self._assigned, LATEST)

    def _seek_to(self, partitions, which: int) -> None:
        partitions = [TopicPartition(*tp) for tp in arguments.topic_partitions(partitions)]
        for tp in partitions:
            self._check_assigned(tp)
        offsets = self._runtime.run(self._list_offsets(partitions, which))
        for tp, offset in offsets.items():
            self._positions[tp] = offset
            self._drop_buffered(tp)

    def position(self, tp: TopicPartition) -> int:
        tp = TopicPartition(*tp)
        self._check_assigned(tp)
        if tp not in self._positions:
            self._runtime.run(self._reset_missing_positions())
        return self._positions[tp]

    def beginning_offsets(self, partitions) -> dict[TopicPartition, int]:
        return self._runtime.run(self._list_offsets(
            [TopicPartition(*p) for p in arguments.topic_partitions(partitions)], EARLIEST))

    def end_offsets(self, partitions) -> dict[TopicPartition, int]:
        return self._runtime.run(self._list_offsets(
            [TopicPartition(*p) for p in arguments.topic_partitions(partitions)], LATEST))

    def _check_assigned(self, tp) -> None:
        if TopicPartition(*arguments.topic_partition(tp)) not in self._assigned:
            raise KafkaError("INVALID_REQUEST", f"{tp[0]}-{tp[1]} is not assigned to this "
                                                "consumer")

    def _drop_buffered(self, tp) -> None:
        self._buffered = [chunk for chunk in self._buffered if chunk[0] != tuple(tp)]

    # -- polling --------------------------------------------------------------------------

    def poll(self, timeout_ms: int = 0, max_records: int | None = None
             ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the assigned partitions, waiting up to timeout_ms for some."""
        if self._closed:
            raise KafkaError("INVALID_REQUEST", "the consumer is closed")
        arguments.integer(timeout_ms, "timeout_ms", 0)
        if max_records is not None:
            arguments.integer(max_records, "max_records", 1)
        if self._subscription:
            self._poll_group()
        if not self._buffered and self._assigned:
            self._buffered = self._runtime.run(self._fetch_until(timeout_ms))
        elif not self._assigned and timeout_ms:  # an idle member still waits, as Kafka's
            self._runtime.run(asyncio.sleep(min(timeout_ms, self.fetch_max_wait_ms) / 1000))
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        room = max_records or float("inf")
        while self._buffered and room > 0:
            tp, recs = self._buffered[0]
            if recs[0].offset < self._positions.get(tp, -1):
                # The same partition answered by its old and new leader: no repeats.
                recs = [r for r in recs if r.offset >= self._positions[tp]]
                if not recs:
                    del self._buffered[0]
                    continue
                self._buffered[0] = (tp, recs)
            if len(recs) > room:
                recs, self._buffered[0] = recs[:room], (tp, recs[room:])
            else:
                del self._buffered[0]
            room -= len(recs)
            out[tp] = out[tp] + recs if tp in out else recs
            self._positions[tp] = recs[-1].offset + 1
        return out

    async def _fetch_until(self, timeout_ms: int) -> list[tuple[TopicPartition, list]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            await self._reset_missing_positions()
            left_ms = int((deadline - loop.time()) * 1000)
            got = await self._fetch_once(max(0, min(self.fetch_max_wait_ms, left_ms)))
            if got or loop.time() >= deadline:
                return got

    async def _fetch_once(self, max_wait_ms: int) -> list[tuple[TopicPartition, list]]:
        """One fetch in flight per leader at a time; return as soon as any answers. A
        leader with nothing new must not hold back the records another one just sent
        (Kafka's fetcher too sends to each node on its own); its long poll stays in
        flight and is collected by a later poll."""
        by_leader: dict[str, list[TopicPartition]] = {}
        missing_leader = False
        for tp in self._assigned:
            leader = self._view.leader_of(*tp)
            if leader is None:
                missing_leader = True
                continue
            by_leader.setdefault(leader[1], []).append(tp)
        if missing_leader:
            await self._refresh()
        for endpoint, tps in by_leader.items():
            if endpoint not in self._fetches:
                sent = {tp: self._positions[tp] for tp in tps}
                self._fetches[endpoint] = asyncio.ensure_future(
                    self._fetch_from(endpoint, sent, max_wait_ms))
        if not self._fetches:
            await asyncio.sleep(min(max_wait_ms, self.retry_backoff_ms) / 1000)
            return []
        await asyncio.wait(self._fetches.values(), timeout=max_wait_ms / 1000,
                           return_when=asyncio.FIRST_COMPLETED)
        out = []
        for endpoint, task in list(self._fetches.items()):
            if task.done():
                del self._fetches[endpoint]
                out += task.result()
        return out

    async def _fetch_from(self, endpoint: str, sent: dict[TopicPartition, int],
                          max_wait_ms: int) -> list[tuple[TopicPartition, list]]:
        leaders = {tp: self._view.topics[tp.topic][tp.partition].leader_epoch for tp in sent}
        body = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": self.fetch_min_bytes,
                "max_bytes": self.fetch_max_bytes, "isolation_level": int(self.read_committed),
                "partitions": [{"topic": tp.topic, "partition": tp.partition,
                                "fetch_offset": offset,
                                "current_leader_epoch": leaders[tp],
                                "partition_max_bytes": self.max_partition_fetch_bytes}
                               for tp, offset in sent.items()]}
        try:
            reply = await self._view.request(endpoint, ApiKey.FETCH, body,
                                             timeout_ms=max_wait_ms + self.request_timeout_ms)
        except KafkaError:
            await self._refresh()
            return []
        if reply.error != "NONE":
            _raise_unless_retriable(reply, "FETCH")
            await self._refresh()
            return []
        out = []
        for result in reply.body.get("partitions", []):
            tp = TopicPartition(result["topic"], result["partition"])
            if tp not in self._assigned or self._positions.get(tp) != sent.get(tp):
                continue  # reassigned or sought while the fetch was out: a stale answer
            error = result.get("error", "NONE")
            if error == "OFFSET_OUT_OF_RANGE":
                self._out_of_range(tp, result)
            elif error != "NONE":
                if KafkaError(error).refresh_metadata or KafkaError(error).retriable:
                    await self._refresh()
                    continue
                raise KafkaError(error, result.get("message", ""))
            elif "records" in result:
                recs = self._decode(tp, reply.payloads[result["records"]],
                                    result.get("aborted_transactions") or [])
                if recs:
                    out.append((tp, recs))
        return out

    def _decode(self, tp: TopicPartition, data, aborted: list) -> list[ConsumerRecord]:
        position = self._positions[tp]
        try:
            out, batches_end = decode_fetched(tp.topic, tp.partition, data, position, aborted,
                                              self.key_deserializer, self.value_deserializer)
        except UndecodableBatchError as e:
            raise CorruptRecordBatchError(tp, e) from None
        except records.CorruptRecordError as e:
            raise KafkaError("CORRUPT_MESSAGE", f"{tp.topic}-{tp.partition}: {e}") from None
        if not out and batches_end > position:
            # Only control batches or compacted-away offsets here: step over them.
            self._positions[tp] = batches_end
        return out

    def _out_of_range(self, tp: TopicPartition, result: dict) -> None:
        position = self._positions.get(tp)
        if self.auto_offset_reset == "none":
            raise OffsetOutOfRangeError(
                tp, f"position {position} is outside [{result.get('log_start_offset')}, "
                    f"{result.get('high_watermark')}]")
        log.warning("%s-%d: position %s out of range; resetting to %s", tp.topic, tp.partition,
                    position, self.auto_offset_reset)
        self._positions.pop(tp, None)

    async def _reset_missing_positions(self) -> None:
        missing = [tp for tp in self._assigned if tp not in self._positions]
        if not missing:
            return
        if self.auto_offset_reset == "none":
            raise OffsetOutOfRangeError(missing[0], "no position and auto_offset_reset='none'")
        which = EARLIEST if self.auto_offset_reset == "earliest" else LATEST
        self._positions.update(await self._list_offsets(missing, which))

    async def _list_offsets(self, tps: list[TopicPartition], which: int
                            ) -> dict[TopicPartition, int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_ms / 1000
        out: dict[TopicPartition, int] = {}
        while True:
            pending = [tp for tp in tps if tp not in out]
            by_leader: dict[str, list[TopicPartition]] = {}
            for tp in pending:
                leader = self._view.leader_of(*tp)
                if leader is not None:
                    by_leader.setdefault(leader[1], []).append(tp)
            for endpoint, group in by_leader.items():
                try:
                    reply = await self._view.request(endpoint, ApiKey.LIST_OFFSETS, {
                        "isolation_level": int(self.read_committed),
                        "partitions": [{"topic": tp.topic, "partition": tp.partition,
                                        "timestamp": which} for tp in group]})
                except KafkaError:
                    continue
                if reply.error != "NONE":
                    _raise_unless_retriable(reply, "LIST_OFFSETS")
                    continue
                for result in reply.body.get("partitions", []):
                    if result["error"] == "NONE":
                        out[TopicPartition(result["topic"], result["partition"])] = \
                            result["offset"]
            if len(out) == len(tps):
                return out
            if loop.time() > deadline:
                raise KafkaError("REQUEST_TIMED_OUT", f"no offsets for {pending} within "
                                                      f"{self.request_timeout_ms} ms")
            await self._refresh()
            await asyncio.sleep(self.retry_backoff_ms / 1000)

    async def _refresh(self) -> None:
        try:
            await self._view.refresh(sorted({tp.topic for tp in self._assigned}) or None)
        except KafkaError as e:
            log.info("metadata refresh failed: %s", e)
            await asyncio.sleep(self.retry_backoff_ms / 1000)

    def close(self, autocommit: bool = True, timeout: float | None = None) -> None:
        """Commit (with auto-commit), leave the group, stop: within `timeout` seconds
        (None: each step within request_timeout_ms)."""
        timeout = arguments.timeout_s(timeout)
        if self._closed:
            return
        self._closed = True
        runtime.closed(self)
        deadline = None if timeout is None else time.monotonic() + timeout

        def left_s() -> float:
            full = self.request_timeout_ms / 1000
            return full if deadline is None else max(0.0, min(full, deadline - time.monotonic()))
        try:
            if self._group is not None and not self._runtime.closed:
                if autocommit and self.enable_auto_commit and self._assigned:
                    try:
                        self._runtime.run(self._commit(self._consumed()), timeout_s=left_s())
                    except (KafkaError, TimeoutError) as e:
                        log.warning("%s: auto-commit to group %s at close failed: %s",
                                    self.client_id, self.group_id, e)
                self._runtime.run(self._group.leave(), timeout_s=left_s())
        except (KafkaError, TimeoutError) as e:
            log.warning("%s: leaving group %s at close: %s", self.client_id, self.group_id, e)
        finally:
            self._runtime.close(self._view.close, timeout_s=max(left_s(), 0.5))

    def _begin_exit(self) -> None:
        pass  # nothing buffered to hurry: the group is left by _close_at_exit

    def _close_at_exit(self) -> None:
        self.close(timeout=self.exit_timeout_s)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

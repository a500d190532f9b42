"""The transaction coordinator on a broker: the shell around txn_state's rules.

A transactional id lives on a partition of `__transaction_state` (compacted; loading and
handing over in internal_topic.py). Every state change is written there with acks=all
before the client hears of it, so a new coordinator picks up where the old one stopped:
a transaction it finds prepared gets its markers written; one left open is aborted when
its timeout passes (with a bumped epoch, fencing the producer that abandoned it).

Ending a transaction answers once the decision (PrepareCommit/PrepareAbort) is durable;
the markers then go to every partition's leader in the background, and the producer's
next transactional request waits (CONCURRENT_TRANSACTIONS) until they are all written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from mini_kafka import records
from mini_kafka.broker import txn_state as ts
from mini_kafka.broker.internal_topic import InternalTopicOwner
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey, Message

log = logging.getLogger("mini_kafka.broker.txn")

TXN_TOPIC = "__transaction_state"


def _field(body: dict, name: str, kind, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ... or not isinstance(value, kind) or \
            (kind is int and isinstance(value, bool)):
        raise KafkaError("INVALID_REQUEST", f"field {name!r} must be {kind.__name__}")
    return value


class TxnManager(InternalTopicOwner):
    topic = TXN_TOPIC
    what = "transactional id"

    def __init__(self, role):
        super().__init__(role)
        self.txns: dict[str, ts.TxnMeta] = {}
        self._may_expire = asyncio.Event()  # set whenever self.txns gains an entry
        self._locks: dict[str, asyncio.Lock] = {}
        self.handlers = {
            ApiKey.ADD_PARTITIONS_TO_TXN: self.add_partitions,
            ApiKey.ADD_OFFSETS_TO_TXN: self.add_offsets,
            ApiKey.END_TXN: self.end_txn,
        }

    def start(self) -> None:
        self._spawn(self._expire_loop(), forever=True)

    def _lock(self, tid: str) -> asyncio.Lock:
        return self._locks.setdefault(tid, asyncio.Lock())

    # -- loading (InternalTopicOwner hooks) -----------------------------------------------

    def _configured_partitions(self) -> int:
        return self.role.config.topics.transaction_state_num_partitions

    def _topic_configs(self, replication_factor: int) -> dict[str, str]:
        return {"cleanup.policy": "compact", "min.insync.replicas": str(
            min(self.role.config.topics.min_insync_replicas, replication_factor))}

    def _replay(self, p: int, header: records.BatchHeader, rec: records.Record) -> None:
        try:
            tid = json.loads(rec.key)["transactional_id"]
            meta = None if rec.value is None else ts.TxnMeta.from_record(
                tid, json.loads(rec.value))
        except (ValueError, KeyError, TypeError):
            return  # a record this version does not know
        if meta is None:
            self.txns.pop(tid, None)
        else:
            self.txns[tid] = meta
            self._may_expire.set()

    def _loaded(self, p: int) -> None:
        for meta in list(self.txns.values()):
            if meta.state in ts.PREPARED and self.partition_of(meta.transactional_id) == p:
                self._spawn(self._finish(meta.transactional_id))

    def _unloaded(self, p: int, keys_of) -> None:
        for tid in [t for t in self.txns if keys_of(t)]:
            del self.txns[tid]

    async def _persist(self, meta: ts.TxnMeta) -> None:
        key = json.dumps({"transactional_id": meta.transactional_id}).encode()
        value = json.dumps(meta.to_record(), separators=(",", ":")).encode()
        await self.append(self.partition_of(meta.transactional_id), [(key, value)])
        self.txns[meta.transactional_id] = meta
        self._may_expire.set()

    # -- InitProducerId -------------------------------------------------------------------

    async def init_producer_id(self, req: Message) -> Message:
        tid = _field(req.body, "transactional_id", str)
        timeout_ms = _field(req.body, "transaction_timeout_ms", int, 60_000)
        ts.check_timeout(timeout_ms, self.timeouts.transaction_max_timeout_ms)
        self.own(tid)
        async with self._lock(tid):
            meta = self.txns.get(tid)
            if meta is None:
                pid = (await self.role.controller.write({"op": "init_producer_id"}))[
                    "producer_id"]
                meta = ts.new_producer(tid, pid, timeout_ms)
            else:
                if meta.state == ts.ONGOING:  # a restarted producer: abort what it left
                    await self._persist(ts.prepare_timeout_abort(meta))
                    await self._write_markers(self.txns[tid])
                    meta = self.txns[tid]
                meta = ts.bump_epoch(meta, timeout_ms)
            await self._persist(meta)
        return req.reply({"producer_id": meta.producer_id,
                          "producer_epoch": meta.producer_epoch}, sender=self.name)

    # -- the transaction ------------------------------------------------------------------

    async def add_partitions(self, req: Message) -> Message:
        b = req.body
        partitions = []
        for entry in _field(b, "partitions", list):
            if not (isinstance(entry, list) and len(entry) == 2):
                raise KafkaError("INVALID_REQUEST", "partitions are [topic, partition] pairs")
            if self.role.image.partition(entry[0], entry[1]) is None:
                raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION", f"{entry[0]}-{entry[1]}")
            partitions.append((entry[0], entry[1]))
        return await self._add(req, partitions)

    async def add_offsets(self, req: Message) -> Message:
        group_id = _field(req.body, "group_id", str)
        groups = self.role.groups
        await groups.coordinator_of(group_id)  # the offsets topic exists from here on
        return await self._add(req, [(groups.topic, groups.partition_of(group_id))])

    async def _add(self, req: Message, partitions) -> Message:
        b = req.body
        tid = _field(b, "transactional_id", str)
        self.own(tid)
        async with self._lock(tid):
            meta = self._known(tid)
            new = ts.add_partitions(meta, _field(b, "producer_id", int),
                                    _field(b, "producer_epoch", int), partitions,
                                    self.clock.wall_ms())
            if new != meta:
                await self._persist(new)
        return req.reply({}, sender=self.name)

    async def end_txn(self, req: Message) -> Message:
        b = req.body
        tid = _field(b, "transactional_id", str)
        self.own(tid)
        async with self._lock(tid):
            prepared = ts.prepare_end(self._known(tid), _field(b, "producer_id", int),
                                      _field(b, "producer_epoch", int),
                                      _field(b, "commit", bool))
            if prepared is not None:
                await self._persist(prepared)
                self._spawn(self._finish(tid))
        return req.reply({}, sender=self.name)

    def _known(self, tid: str) -> ts.TxnMeta:
        meta = self.txns.get(tid)
        if meta is None:
            raise KafkaError("INVALID_PRODUCER_ID_MAPPING",
                             f"no producer for transactional id {tid!r}: init it first")
        return meta

    async def _expire_loop(self) -> None:
        while True:
            # Without a transactional id there is nothing to expire: a broker whose
            # clients never use transactions does not wake for this.
            if not self.txns:
                self._may_expire.clear()
                await self._may_expire.wait()
            await asyncio.sleep(self.timeouts.transaction_abort_check_interval_ms / 1000)
            now = self.clock.wall_ms()
            for meta in list(self.txns.values()):
                if ts.expired(meta, now) and not self._lock(meta.transactional_id).locked():
                    self._spawn(self._abort_expired(meta.transactional_id))

    async def _abort_expired(self, tid: str) -> None:
        async with self._lock(tid):
            meta = self.txns.get(tid)
            if meta is None or not ts.expired(meta, self.clock.wall_ms()):
                return
            log.info("transaction of %r timed out after %d ms: aborting", tid, meta.timeout_ms)
            try:
                await self._persist(ts.prepare_timeout_abort(meta))
            except KafkaError as e:
                log.warning("cannot abort %r yet: %s", tid, e)
                return
        await self._finish(tid)

    # -- markers --------------------------------------------------------------------------

    async def _finish(self, tid: str) -> None:
        async with self._lock(tid):
            meta = self.txns.get(tid)
            if meta is not None and meta.state in ts.PREPARED:
                await self._write_markers(meta)

    async def _write_markers(self, meta: ts.TxnMeta) -> None:
        """Write the markers until every partition has one, then record completion.
        Gives up only if this broker stops coordinating the id (the next one resumes)."""
        commit = meta.state == ts.PREPARE_COMMIT
        pending = set(meta.partitions)
        p = self.partition_of(meta.transactional_id)
        epoch = self.loaded.get(p)
        while pending:
            if self.loaded.get(p) != epoch:
                return
            by_leader: dict[str, list] = {}
            for topic, index in sorted(pending):
                part = self.role.image.partition(topic, index)
                if part is None:  # the topic was deleted: nothing to mark
                    pending.discard((topic, index))
                    continue
                endpoint = self.role.config.cluster_endpoint_of(f"broker-{part['leader']}")
                if part["leader"] in self.role.image.brokers and endpoint is not None:
                    by_leader.setdefault(endpoint, []).append([topic, index])
            for endpoint, parts in by_leader.items():
                try:
                    reply = await self.role.node.client.request(
                        endpoint, ApiKey.WRITE_TXN_MARKERS,
                        {"producer_id": meta.producer_id, "producer_epoch": meta.producer_epoch,
                         "commit": commit, "partitions": parts},
                        retries=0, timeout_ms=self.timeouts.request_timeout_ms)
                except KafkaError as e:
                    log.info("markers to %s: %s", endpoint, e)
                    continue
                for r in reply.body.get("partitions", []):
                    if r["error"] in ("NONE", "UNKNOWN_TOPIC_OR_PARTITION"):
                        pending.discard((r["topic"], r["partition"]))
            if pending:
                await asyncio.sleep(self.role.config.limits.retry_backoff_ms / 1000)
        try:
            await self._persist(ts.complete(meta))
        except KafkaError as e:  # written markers are idempotent: the next try redoes them
            log.warning("%r: completion not recorded (%s): retrying", meta.transactional_id, e)
            self._spawn(self._finish(meta.transactional_id))

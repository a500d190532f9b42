"""The broker's client-facing requests, mirroring Kafka's APIs and error codes.

Request bodies are checked here; a malformed one is INVALID_REQUEST, never a crash.
Topic administration is passed on to the controller.
"""

from __future__ import annotations

import logging
from typing import Any

from mini_kafka import records
from mini_kafka.broker.replica_manager import READ_COMMITTED
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey, Kind, Message

log = logging.getLogger("mini_kafka.broker.api")


def _get(body: dict, name: str, kind, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ...:
        raise KafkaError("INVALID_REQUEST", f"missing field {name!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise KafkaError("INVALID_REQUEST", f"field {name!r} must be {kind.__name__}")
    return value


class BrokerApi:
    def __init__(self, role):
        self.role = role
        self.name = role.node.name
        self.handlers = {
            ApiKey.METADATA: self.metadata,
            ApiKey.PRODUCE: self.produce,
            ApiKey.FETCH: self.fetch,
            ApiKey.LIST_OFFSETS: self.list_offsets,
            ApiKey.INIT_PRODUCER_ID: self.init_producer_id,
            ApiKey.FIND_COORDINATOR: self.find_coordinator,
            ApiKey.WRITE_TXN_MARKERS: self.write_txn_markers,
            ApiKey.CREATE_TOPICS: self.create_topics,
            ApiKey.DELETE_TOPICS: self.delete_topics,
        }

    @property
    def replicas(self):
        return self.role.replicas

    # -- metadata -------------------------------------------------------------------------

    async def metadata(self, req: Message) -> Message:
        image = self.role.image
        names = req.body.get("topics")
        if names is not None and (not isinstance(names, list) or
                                  not all(isinstance(n, str) for n in names)):
            raise KafkaError("INVALID_REQUEST", "topics must be a list of names or null")
        if names is None:
            names = sorted(t for t in image.topics)
        elif any(n not in image.topics for n in names):
            await self.role.catch_up_metadata()
            image = self.role.image
        topics = []
        for name in names:
            if name not in image.topics:
                error = await self._maybe_auto_create(name)
                topics.append({"name": name, "error": error, "partitions": []})
                continue
            topics.append({"name": name, "error": "NONE", "configs": image.topics[name]["configs"],
                           "partitions": [
                               {k: p[k] for k in ("partition", "leader", "leader_epoch",
                                                  "replicas", "isr")}
                               for p in image.topic_partitions(name)]})
        brokers = [{"id": b["id"], "endpoint": b["endpoint"]}
                   for b in sorted(image.brokers.values(), key=lambda b: b["id"])
                   if not b["fenced"]]
        return req.reply({"brokers": brokers, "topics": topics,
                          "metadata_offset": image.offset}, sender=self.name)

    async def _maybe_auto_create(self, name: str) -> str:
        topics = self.role.config.topics
        if not topics.auto_create_topics_enable:
            return "UNKNOWN_TOPIC_OR_PARTITION"
        try:
            await self.role.controller.write({
                "op": "create_topic", "name": name, "partitions": topics.num_partitions,
                "replication_factor": min(topics.default_replication_factor,
                                          len(self.role.image.unfenced_broker_ids()))})
        except KafkaError as e:
            if e.error.name != "TOPIC_ALREADY_EXISTS":
                return e.error.name
        return "LEADER_NOT_AVAILABLE"  # retriable: the client asks again shortly

    # -- produce and fetch ----------------------------------------------------------------

    async def produce(self, req: Message) -> Message | None:
        body = req.body
        acks = _get(body, "acks", int)
        if acks not in (-1, 0, 1):
            raise KafkaError("INVALID_REQUIRED_ACKS", f"acks must be -1 (all), 0 or 1, not {acks}")
        timeout_ms = _get(body, "timeout_ms", int, 30_000)
        items = []
        for entry in _get(body, "partitions", list):
            index = _get(entry, "batch", int)
            if not 0 <= index < len(req.payloads):
                raise KafkaError("INVALID_REQUEST", f"batch {index} is not in the request")
            items.append((_get(entry, "topic", str), _get(entry, "partition", int),
                          req.payloads[index]))
        results = await self.replicas.produce(acks, timeout_ms, items)
        if req.kind == Kind.ONEWAY:  # acks=0: nobody waits for an answer
            return None
        return req.reply({"partitions": results}, sender=self.name)

    async def fetch(self, req: Message) -> Message:
        for entry in _get(req.body, "partitions", list):
            _get(entry, "topic", str)
            _get(entry, "partition", int)
            _get(entry, "fetch_offset", int)
        results, payloads = await self.replicas.fetch(req.body)
        return req.reply({"partitions": results}, payloads, sender=self.name)

    async def list_offsets(self, req: Message) -> Message:
        results = []
        for entry in _get(req.body, "partitions", list):
            topic, index = _get(entry, "topic", str), _get(entry, "partition", int)
            result = {"topic": topic, "partition": index, "error": "NONE"}
            try:
                result.update(self.replicas.list_offset(
                    topic, index, _get(entry, "timestamp", int),
                    entry.get("current_leader_epoch"),
                    req.body.get("isolation_level") == READ_COMMITTED))
            except KafkaError as e:
                result.update(error=e.error.name, message=e.message)
            results.append(result)
        return req.reply({"partitions": results}, sender=self.name)

    # -- passed to the controller ---------------------------------------------------------

    async def init_producer_id(self, req: Message) -> Message:
        if req.body.get("transactional_id") is not None:
            return await self.role.txns.init_producer_id(req)
        result = await self.role.controller.write({"op": "init_producer_id"})
        return req.reply({"producer_id": result["producer_id"],
                          "producer_epoch": result["producer_epoch"]}, sender=self.name)

    async def find_coordinator(self, req: Message) -> Message:
        """key_type 0: a group's coordinator; 1: a transactional id's (Kafka's values)."""
        key = _get(req.body, "key", str)
        key_type = _get(req.body, "key_type", int, 0)
        if key_type not in (0, 1):
            raise KafkaError("INVALID_REQUEST", f"key_type {key_type}: 0 (group) or 1 "
                                                "(transaction)")
        if not key:
            raise KafkaError("INVALID_REQUEST", "the key must not be empty")
        owner = self.role.txns if key_type == 1 else self.role.groups
        return req.reply(await owner.coordinator_of(key), sender=self.name)

    async def write_txn_markers(self, req: Message) -> Message:
        """From a transaction coordinator: end a producer's transaction on partitions this
        broker leads, each with a control batch written with acks=all."""
        b = req.body
        pid, epoch = _get(b, "producer_id", int), _get(b, "producer_epoch", int)
        commit = _get(b, "commit", bool)
        marker = records.encode_marker(pid, epoch, commit, 0, self.role.node.clock.wall_ms())
        items = []
        for entry in _get(b, "partitions", list):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                    and isinstance(entry[1], int)):
                raise KafkaError("INVALID_REQUEST", "partitions are [topic, partition] pairs")
            items.append((entry[0], entry[1], marker))
        results = await self.replicas.produce(
            -1, self.role.config.timeouts.request_timeout_ms, items, internal=True)
        for r in results:
            if r["error"] == "NONE" and r["topic"] == self.role.groups.topic:
                self.role.groups.on_txn_marker(r["partition"], pid, commit)
        return req.reply({"partitions": results}, sender=self.name)

    async def create_topics(self, req: Message) -> Message:
        defaults = self.role.config.topics
        results = []
        for entry in _get(req.body, "topics", list):
            name = _get(entry, "name", str)
            partitions = _get(entry, "num_partitions", int, -1)
            rf = _get(entry, "replication_factor", int, -1)
            command = {"op": "create_topic", "name": name,
                       "partitions": defaults.num_partitions if partitions == -1 else partitions,
                       "replication_factor": defaults.default_replication_factor
                       if rf == -1 else rf,
                       "configs": _get(entry, "configs", dict, {})}
            results.append(await self._to_controller(name, command))
        return req.reply({"topics": results}, sender=self.name)

    async def delete_topics(self, req: Message) -> Message:
        results = []
        for name in _get(req.body, "topics", list):
            if not isinstance(name, str):
                raise KafkaError("INVALID_REQUEST", "topics must be names")
            results.append(await self._to_controller(name, {"op": "delete_topic", "name": name}))
        return req.reply({"topics": results}, sender=self.name)

    async def _to_controller(self, name: str, command: dict) -> dict[str, Any]:
        try:
            await self.role.controller.write(command)
        except KafkaError as e:
            return {"name": name, "error": e.error.name, "message": e.message}
        await self.role.catch_up_metadata()  # this broker answers for the change at once
        return {"name": name, "error": "NONE"}

"""The broker's client-facing requests, mirroring Kafka's APIs and error codes.

Request bodies are checked here; a malformed one is INVALID_REQUEST, never a crash.
Topic administration is passed on to the controller.
"""

from __future__ import annotations

import logging
from typing import Any

from mini_kafka import records
from mini_kafka.broker.replica_manager import READ_COMMITTED
from mini_kafka.broker.traffic import TrafficCounters
from mini_kafka.coordinator.state import check_new_topic
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey, Kind, Message
from mini_kafka.topic_config import broker_configs, config_text, effective

log = logging.getLogger("mini_kafka.broker.api")


def _get(body: dict, name: str, kind, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ...:
        raise KafkaError("INVALID_REQUEST", f"missing field {name!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise KafkaError("INVALID_REQUEST", f"field {name!r} must be {kind.__name__}")
    return value


def _count(body: dict, name: str, default: int) -> int:
    """A non-negative integer field (a size or a wait)."""
    value = _get(body, name, int, default)
    if value < 0:
        raise KafkaError("INVALID_REQUEST", f"field {name!r} must not be negative, not {value}")
    return value


class BrokerApi:
    def __init__(self, role):
        self.role = role
        self.name = role.node.name
        self.traffic = TrafficCounters()
        self.handlers = {
            ApiKey.METADATA: self.metadata,
            ApiKey.PRODUCE: self.produce,
            ApiKey.FETCH: self.fetch,
            ApiKey.FETCH_NUDGE: self.fetch_nudge,
            ApiKey.LIST_OFFSETS: self.list_offsets,
            ApiKey.INIT_PRODUCER_ID: self.init_producer_id,
            ApiKey.FIND_COORDINATOR: self.find_coordinator,
            ApiKey.WRITE_TXN_MARKERS: self.write_txn_markers,
            ApiKey.CREATE_TOPICS: self.create_topics,
            ApiKey.DELETE_TOPICS: self.delete_topics,
            ApiKey.CREATE_PARTITIONS: self.create_partitions,
            ApiKey.ELECT_LEADERS: self.elect_leaders,
            ApiKey.DESCRIBE_CONFIGS: self.describe_configs,
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
            await self.role.catch_up_metadata(image_only=True)  # the answer is the image
            image = self.role.image
        auto_create = req.body.get("allow_auto_create", True) is True
        topics = []
        for name in names:
            if name not in image.topics:
                error = await self._maybe_auto_create(name) if auto_create \
                    else "UNKNOWN_TOPIC_OR_PARTITION"
                topics.append({"name": name, "error": error, "partitions": []})
                continue
            topics.append({"name": name, "error": "NONE", "configs": image.topics[name]["configs"],
                           "topic_id": image.topics[name].get("topic_id"),
                           "partitions": [
                               {k: p[k] for k in ("partition", "leader", "leader_epoch",
                                                  "replicas", "isr")}
                               for p in image.topic_partitions(name)]})
        brokers = [{"id": b["id"], "endpoint": b["endpoint"],
                    "kafka_endpoint": b.get("kafka_endpoint")}
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
        self.traffic.on_produce(items, results)
        if req.kind == Kind.ONEWAY:  # acks=0: nobody waits for an answer
            return None
        return req.reply({"partitions": results}, sender=self.name)

    async def fetch(self, req: Message) -> Message:
        body = self._bounded_fetch(req.body)
        results, payloads = await self.replicas.fetch(body)
        self.traffic.on_fetch(body["replica_id"], payloads)
        return req.reply({"partitions": results}, payloads, sender=self.name)

    async def fetch_nudge(self, req: Message) -> Message | None:
        """A leader has no fetch of ours waiting (broker/fetch_nudges.py). Only the
        authenticated endpoint takes it, so the sender is the broker it names."""
        prefix, _, number = req.sender.partition("-")
        if prefix != "broker" or not number.isdigit():
            raise KafkaError("INVALID_REQUEST", f"{req.sender} is not a broker")
        resent = self.replicas.fetchers.nudged(int(number))
        return req.reply({"resent": resent}, sender=self.name) \
            if req.kind == Kind.REQUEST else None

    def _bounded_fetch(self, body: dict) -> dict:
        """The request with every number checked, and the sizes and the wait cut down to
        the configured bounds (as Kafka caps a fetch at fetch.max.bytes): a request may
        ask for anything, but never makes the broker allocate or wait more than these."""
        limits = self.role.config.limits
        max_bytes = min(_count(body, "max_bytes", limits.fetch_response_bytes_max),
                        limits.fetch_response_bytes_max)
        replica_id = _get(body, "replica_id", int, -1)
        # A follower's long poll has its own bound (only the authenticated endpoint takes
        # replica fetches). Cut to the consumers' 5 s, every idle follower asked twice as
        # often as replica_fetch_wait_max_ms meant: 5 + 100 with a 1000-partition topic
        # idled at 0.42-0.51 core, 0.34-0.36 with the fetches held as configured.
        wait_max_ms = limits.fetch_wait_ms_max if replica_id < 0 \
            else self.role.config.timeouts.replica_fetch_wait_max_ms
        out = {
            "replica_id": replica_id,
            "isolation_level": _get(body, "isolation_level", int, 0),
            "max_wait_ms": min(_count(body, "max_wait_ms", 0), wait_max_ms),
            "min_bytes": min(_count(body, "min_bytes", 1), max_bytes),
            "max_bytes": max_bytes,
            "partitions": [],
        }
        for entry in _get(body, "partitions", list):
            if not isinstance(entry, dict):
                raise KafkaError("INVALID_REQUEST", "partitions must be objects")
            current_epoch = entry.get("current_leader_epoch")
            if current_epoch is not None:
                _get(entry, "current_leader_epoch", int)
            checked = {
                "topic": _get(entry, "topic", str), "partition": _get(entry, "partition", int),
                "fetch_offset": _get(entry, "fetch_offset", int),
                "last_fetched_epoch": _get(entry, "last_fetched_epoch", int, -1),
                "current_leader_epoch": current_epoch,
                "partition_max_bytes": min(_count(entry, "partition_max_bytes", 1024 * 1024),
                                           limits.fetch_partition_bytes_max)}
            if replica_id >= 0 and entry.get("high_watermark") is not None:
                # The HW the follower holds: what its answer is cut by (long_poll.py).
                # Dropped here, it left every follower answered with every partition.
                checked["high_watermark"] = _get(entry, "high_watermark", int)
            out["partitions"].append(checked)
        return out

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
        """Create topics through the controller; with validate_only, only say whether the
        controller would (the same checks, against this broker's metadata)."""
        defaults = self.role.config.topics
        validate_only = _get(req.body, "validate_only", bool, False)
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
            if validate_only:
                problem, _ = check_new_topic(self.role.image, name, command["partitions"],
                                             command["replication_factor"], command["configs"])
                results.append({"name": name, **(problem or {"error": "NONE"})})
            else:
                results.append(await self._to_controller(name, command))
        return req.reply({"topics": results}, sender=self.name)

    async def create_partitions(self, req: Message) -> Message:
        results = []
        for entry in _get(req.body, "topics", list):
            name, count = _get(entry, "name", str), _get(entry, "count", int)
            results.append(await self._to_controller(
                name, {"op": "create_partitions", "name": name, "count": count}))
        return req.reply({"topics": results}, sender=self.name)

    async def elect_leaders(self, req: Message) -> Message:
        """A preferred leader election (Kafka's ElectLeaders, type PREFERRED): `topics`
        maps names to null (every partition) or partition numbers; null means all."""
        topics = req.body.get("topics")
        if topics is not None and not isinstance(topics, dict):
            raise KafkaError("INVALID_REQUEST", "topics must map names to partitions, or be "
                                                "null")
        command: dict[str, Any] = {"op": "elect_preferred_leaders"}
        if topics is not None:
            command["topics"] = topics
        result = await self.role.controller.write(command)
        # A describe on this broker shows the new leaders.
        await self.role.catch_up_metadata(image_only=True,
                                          committed=result.get("metadata_offset"))
        return req.reply({k: result[k] for k in ("moved", "not_needed", "partitions")},
                         sender=self.name)

    async def describe_configs(self, req: Message) -> Message:
        """Topic configs (each with where its value comes from) and this broker's."""
        results = []
        for entry in _get(req.body, "resources", list):
            kind, name = _get(entry, "type", str), _get(entry, "name", str)
            keys = entry.get("keys")
            if keys is not None and not isinstance(keys, list):
                raise KafkaError("INVALID_REQUEST", "keys must be a list of config names")
            if kind == "topic":
                result = self._topic_configs(name)
            elif kind == "broker":
                result = self._broker_configs(name)
            else:
                result = {"error": "INVALID_REQUEST", "message": f"resource type {kind!r}"}
            if keys is not None and "configs" in result:
                result["configs"] = [c for c in result["configs"] if c["name"] in keys]
            results.append({"type": kind, "name": name, **result})
        return req.reply({"resources": results}, sender=self.name)

    def _topic_configs(self, name: str) -> dict[str, Any]:
        topic = self.role.image.topics.get(name)
        if topic is None:
            return {"error": "UNKNOWN_TOPIC_OR_PARTITION", "message": f"no topic {name!r}"}
        overrides = topic["configs"]
        values = effective(self.role.config, overrides)
        return {"error": "NONE", "configs": [
            {"name": key, "value": config_text(values[key]),
             "source": "topic" if key in overrides else "default"}
            for key in sorted(values)]}

    def _broker_configs(self, name: str) -> dict[str, Any]:
        if name not in ("", str(self.role.broker_id)):
            return {"error": "INVALID_REQUEST",
                    "message": f"broker {self.role.broker_id} describes itself, not {name!r}"}
        return {"error": "NONE", "configs": [
            {"name": key, "value": config_text(value), "source": "default"}
            for key, value in sorted(broker_configs(self.role.config,
                                                    self.role.broker_id).items())]}

    async def delete_topics(self, req: Message) -> Message:
        results = []
        for name in _get(req.body, "topics", list):
            if not isinstance(name, str):
                raise KafkaError("INVALID_REQUEST", "topics must be names")
            results.append(await self._to_controller(name, {"op": "delete_topic", "name": name}))
        return req.reply({"topics": results}, sender=self.name)

    async def _to_controller(self, name: str, command: dict) -> dict[str, Any]:
        try:
            result = await self.role.controller.write(command)
        except KafkaError as e:
            return {"name": name, "error": e.error.name, "message": e.message}
        # This broker's metadata answers for the change at once; its replicas (like every
        # other broker's) may still be opening.
        await self.role.catch_up_metadata(image_only=True,
                                          committed=result.get("metadata_offset"))
        return {"name": name, "error": "NONE"}

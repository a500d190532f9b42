"""Admin: create, delete and describe topics and consumer groups, describe the cluster
(kafka-python's names).

Topic requests go to any broker, which passes them on to the controller; group requests
go to the group's coordinator, except listing, which asks every broker (each knows the
groups it coordinates), as Kafka's admin does."""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from mini_kafka.client import arguments, runtime
from mini_kafka.client.cluster import ClusterView, parse_bootstrap
from mini_kafka.client.coordinator_link import CoordinatorLink
from mini_kafka.client.runtime import Runtime
from mini_kafka.errors import KafkaError
from mini_kafka.kafka_protocol import consumer_protocol
from mini_kafka.protocol import ApiKey


@dataclass(frozen=True)
class NewTopic:
    name: str
    num_partitions: int = -1  # -1: the cluster default
    replication_factor: int = -1
    topic_configs: dict[str, str] = field(default_factory=dict)


class Admin:
    def __init__(self, bootstrap_servers, *, request_timeout_ms: int = 30_000,
                 client_id: str | None = None):
        arguments.integer(request_timeout_ms, "request_timeout_ms", 1)
        self.client_id = client_id or f"admin-{uuid.uuid4().hex[:8]}"
        self._view = ClusterView(self.client_id, parse_bootstrap(bootstrap_servers),
                                 request_timeout_ms=request_timeout_ms, retry_backoff_ms=100)
        self._runtime = Runtime(self.client_id)
        weakref.finalize(self, self._runtime.close_soon, self._view.close).atexit = False
        runtime.close_at_exit(self)  # nothing to deliver; its sockets close before exit

    def _call(self, api: int, body: dict):
        reply = self._runtime.run(self._view.any_broker(api, body))
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        return reply

    def create_topics(self, new_topics: list[NewTopic]) -> dict[str, str]:
        """Create topics; raises KafkaError for the first that fails (the others are
        still created). Returns name -> error name."""
        if isinstance(new_topics, NewTopic) or not isinstance(new_topics, list | tuple) or \
                not all(isinstance(t, NewTopic) for t in new_topics):
            raise TypeError("create_topics() takes a list of NewTopic")
        for t in new_topics:
            arguments.topic_name(t.name, "NewTopic name")
            arguments.integer(t.num_partitions, f"{t.name}: num_partitions", -1)
            arguments.integer(t.replication_factor, f"{t.name}: replication_factor", -1)
            if not isinstance(t.topic_configs, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in t.topic_configs.items()):
                raise TypeError(f"{t.name}: topic_configs must be a dict of str -> str")
        reply = self._call(ApiKey.CREATE_TOPICS, {"topics": [
            {"name": t.name, "num_partitions": t.num_partitions,
             "replication_factor": t.replication_factor,
             "configs": dict(t.topic_configs)} for t in new_topics]})
        return self._raise_first(reply.body["topics"])

    def delete_topics(self, names: list[str]) -> dict[str, str]:
        reply = self._call(ApiKey.DELETE_TOPICS, {"topics": arguments.topic_names(names)})
        return self._raise_first(reply.body["topics"])

    @staticmethod
    def _raise_first(results: list[dict]) -> dict[str, str]:
        for r in results:
            if r["error"] != "NONE":
                raise KafkaError(r["error"], f"{r['name']}: {r.get('message', '')}")
        return {r["name"]: r["error"] for r in results}

    def list_topics(self) -> list[str]:
        return sorted(t["name"] for t in self._call(ApiKey.METADATA, {"topics": None})
                      .body["topics"])

    def describe_topics(self, names: list[str] | None = None, *, offsets: bool = True
                        ) -> list[dict[str, Any]]:
        """Each topic with its partitions (leader, leader_epoch, replicas, isr) and, from
        each leader, the high watermark and log end offset. offsets=False leaves those
        out: one Metadata request, not one more per leader broker."""
        if names is not None:
            names = arguments.topic_names(names, "names")
        body = self._call(ApiKey.METADATA, {"topics": names}).body
        for t in body["topics"]:
            if t["error"] != "NONE":
                raise KafkaError(t["error"], f"topic {t['name']!r}")
        if not offsets:
            return body["topics"]
        brokers = {b["id"]: b["endpoint"] for b in body["brokers"]}
        offsets = self._runtime.run(self._leader_offsets(body["topics"], brokers, -1))
        for t in body["topics"]:
            for p in t["partitions"]:
                r = offsets.get((t["name"], p["partition"]))
                if r is not None:
                    p.update(high_watermark=r["offset"], log_end_offset=r.get("log_end_offset"))
        return body["topics"]

    def beginning_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Each partition's log start offset, from its leader."""
        return {tp: r["offset"] for tp, r in self._offsets_at(partitions, -2).items()}

    def offsets_for_times(self, partitions: list[tuple[str, int]], timestamp_ms: int
                          ) -> dict[tuple[str, int], int | None]:
        """Each partition's first offset with a record timestamp at or after
        `timestamp_ms`, from its leader; None where no record (below the high watermark)
        is that recent. Kafka's ListOffsets by timestamp."""
        arguments.integer(timestamp_ms, "timestamp_ms", 0)
        return {tp: (r["offset"] if r["offset"] >= 0 else None)
                for tp, r in self._offsets_at(partitions, timestamp_ms).items()}

    def _offsets_at(self, partitions, timestamp: int) -> dict[tuple[str, int], dict]:
        partitions = arguments.topic_partitions(partitions)
        body = self._call(ApiKey.METADATA, {"topics": sorted({t for t, _ in partitions})}).body
        brokers = {b["id"]: b["endpoint"] for b in body["brokers"]}
        wanted = {tuple(tp) for tp in partitions}
        topics = [{**t, "partitions": [p for p in t["partitions"]
                                       if (t["name"], p["partition"]) in wanted]}
                  for t in body["topics"]]
        found = self._runtime.run(self._leader_offsets(topics, brokers, timestamp))
        return {tuple(tp): found[tuple(tp)] for tp in partitions if tuple(tp) in found}

    async def _leader_offsets(self, topics, brokers, timestamp: int) -> dict:
        out = {}
        by_leader: dict[str, list] = {}
        for t in topics:
            for p in t["partitions"]:
                if p["leader"] in brokers:
                    by_leader.setdefault(brokers[p["leader"]], []).append(
                        {"topic": t["name"], "partition": p["partition"],
                         "timestamp": timestamp})
        for endpoint, parts in by_leader.items():
            try:
                reply = await self._view.request(endpoint, ApiKey.LIST_OFFSETS,
                                                 {"partitions": parts})
            except KafkaError:
                continue  # that leader's offsets are left out, as for an unknown leader
            if reply.error != "NONE":
                error = KafkaError(reply.error, f"LIST_OFFSETS from {reply.sender}: "
                                                f"{reply.body.get('message', '')}")
                if error.retriable:
                    continue
                raise error
            for r in reply.body.get("partitions", []):
                if r["error"] == "NONE":
                    out[(r["topic"], r["partition"])] = r
        return out

    # -- consumer groups --------------------------------------------------------------------

    def _group(self, group_id: str) -> CoordinatorLink:
        if not isinstance(group_id, str) or not group_id:
            raise TypeError(f"a group id must be a non-empty str, got {group_id!r}")
        return CoordinatorLink(self._view, group_id, self._view.request_timeout_ms, 100)

    def list_consumer_groups(self) -> list[dict[str, Any]]:
        """Every group on every live broker: group_id, state."""
        return self._runtime.run(self._list_groups())

    async def _list_groups(self) -> list[dict[str, Any]]:
        await self._view.refresh([])
        groups = {}
        for endpoint in self._view.brokers.values():
            reply = await self._view.request(endpoint, ApiKey.LIST_GROUPS, {})
            if reply.error != "NONE":
                raise KafkaError(reply.error, f"listing groups on {endpoint}")
            for g in reply.body["groups"]:
                groups[g["group_id"]] = g
        return [groups[name] for name in sorted(groups)]

    def describe_consumer_groups(self, group_ids: list[str]) -> list[dict[str, Any]]:
        """Each group's state, generation, assignor and members with their partitions."""
        if isinstance(group_ids, str) or not isinstance(group_ids, list | tuple):
            raise TypeError("describe_consumer_groups() takes a list of group ids")
        out = []
        for group_id in group_ids:
            body = self._runtime.run(self._group(group_id).call(
                ApiKey.DESCRIBE_GROUPS, {"groups": [group_id]}))
            if body["error"] != "NONE":
                raise KafkaError(body["error"], f"describing group {group_id!r}: "
                                                f"{body.get('message', '')}")
            [group] = body["groups"]
            if group["error"] != "NONE":
                raise KafkaError(group["error"], f"group {group_id!r}")
            for m in group["members"]:
                assignment, _ = m.pop("assignment", None), m.pop("metadata", None)
                m["partitions"] = consumer_protocol.assignment_from_text(assignment) \
                    if group.get("protocol_type", "consumer") == "consumer" else []
            out.append(group)
        return out

    def list_consumer_group_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        body = self._runtime.run(self._group(group_id).call(
            ApiKey.OFFSET_FETCH, {"group_id": group_id, "partitions": None}))
        if body["error"] != "NONE":
            raise KafkaError(body["error"], f"offsets of group {group_id!r}")
        return {(r["topic"], r["partition"]): r["offset"] for r in body["partitions"]
                if r["offset"] >= 0}

    def alter_consumer_group_offsets(self, group_id: str,
                                     offsets: dict[tuple[str, int], int]) -> None:
        """Set a group's committed offsets; refused (NON_EMPTY_GROUP) while it has members."""
        checked = arguments.offsets(offsets)
        body = self._runtime.run(self._group(group_id).call(ApiKey.OFFSET_COMMIT, {
            "group_id": group_id, "member_id": "", "generation": -1,
            "offsets": [{"topic": t, "partition": p, "offset": o}
                        for (t, p), (o, _) in sorted(checked.items())]}))
        errors = {r["error"] for r in body.get("partitions", [])} - {"NONE"}
        if body["error"] != "NONE":
            errors.add(body["error"])
        if "UNKNOWN_MEMBER_ID" in errors:
            raise KafkaError("NON_EMPTY_GROUP", f"group {group_id!r} has active members: "
                                                "stop its consumers first")
        if errors:
            raise KafkaError(sorted(errors)[0], f"altering offsets of group {group_id!r}")

    def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Each partition's high watermark (what a consumer can read up to)."""
        partitions = arguments.topic_partitions(partitions)
        topics = sorted({t for t, _ in partitions})
        described = {(t["name"], p["partition"]): p.get("high_watermark")
                     for t in self.describe_topics(topics) for p in t["partitions"]}
        return {tp: described.get(tuple(tp)) for tp in partitions}

    def elect_preferred_leaders(self, topics: dict[str, list[int] | None] | None = None
                                ) -> dict[str, Any]:
        """Move leaderships back to each partition's preferred replica (the first of its
        replicas) where that one is in the ISR and up, in one metadata change (Kafka's
        preferred leader election). topics: name -> partition numbers, or None for all
        of a topic's; None: every partition. Returns moved (a count), not_needed (a
        count, when electing everywhere) and partitions: topic, partition, error (NONE,
        ELECTION_NOT_NEEDED or PREFERRED_LEADER_NOT_AVAILABLE), preferred,
        previous_leader. An unknown topic or partition raises
        UNKNOWN_TOPIC_OR_PARTITION and moves nothing."""
        if topics is not None:
            if not isinstance(topics, dict):
                raise TypeError("topics must be a dict of name -> partitions (or None)")
            topics = {arguments.topic_name(name, "topic"):
                      None if parts is None else
                      [arguments.integer(p, f"{name}: partition", 0) for p in parts]
                      for name, parts in topics.items()}
        return self._call(ApiKey.ELECT_LEADERS, {"topics": topics}).body

    def describe_cluster(self) -> dict[str, Any]:
        body = self._call(ApiKey.METADATA, {"topics": []}).body
        return {"brokers": body["brokers"], "metadata_offset": body["metadata_offset"]}

    def close(self) -> None:
        runtime.closed(self)
        self._runtime.close(self._view.close)

    def _begin_exit(self) -> None:
        pass

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

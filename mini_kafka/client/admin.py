"""Admin: create, delete and describe topics and consumer groups, describe the cluster
(kafka-python's names).

Topic requests go to any broker, which passes them on to the controller; group requests
go to the group's coordinator, except listing, which asks every broker (each knows the
groups it coordinates), as Kafka's admin does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from mini_kafka.client.cluster import ClusterView, parse_bootstrap
from mini_kafka.client.coordinator_link import CoordinatorLink
from mini_kafka.client.runtime import Runtime
from mini_kafka.errors import KafkaError
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
        self.client_id = client_id or f"admin-{uuid.uuid4().hex[:8]}"
        self._view = ClusterView(self.client_id, parse_bootstrap(bootstrap_servers),
                                 request_timeout_ms=request_timeout_ms, retry_backoff_ms=100)
        self._runtime = Runtime(self.client_id)

    def _call(self, api: int, body: dict):
        reply = self._runtime.run(self._view.any_broker(api, body))
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        return reply

    def create_topics(self, new_topics: list[NewTopic]) -> dict[str, str]:
        """Create topics; raises KafkaError for the first that fails (the others are
        still created). Returns name -> error name."""
        reply = self._call(ApiKey.CREATE_TOPICS, {"topics": [
            {"name": t.name, "num_partitions": t.num_partitions,
             "replication_factor": t.replication_factor,
             "configs": dict(t.topic_configs)} for t in new_topics]})
        return self._raise_first(reply.body["topics"])

    def delete_topics(self, names: list[str]) -> dict[str, str]:
        reply = self._call(ApiKey.DELETE_TOPICS, {"topics": list(names)})
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

    def describe_topics(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Each topic with its partitions (leader, leader_epoch, replicas, isr) and, from
        each leader, the high watermark and log end offset."""
        body = self._call(ApiKey.METADATA, {"topics": names}).body
        for t in body["topics"]:
            if t["error"] != "NONE":
                raise KafkaError(t["error"], f"topic {t['name']!r}")
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
        body = self._call(ApiKey.METADATA, {"topics": sorted({t for t, _ in partitions})}).body
        brokers = {b["id"]: b["endpoint"] for b in body["brokers"]}
        wanted = {tuple(tp) for tp in partitions}
        topics = [{**t, "partitions": [p for p in t["partitions"]
                                       if (t["name"], p["partition"]) in wanted]}
                  for t in body["topics"]]
        found = self._runtime.run(self._leader_offsets(topics, brokers, -2))
        return {tuple(tp): found[tuple(tp)]["offset"] for tp in partitions
                if tuple(tp) in found}

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
                continue
            for r in reply.body.get("partitions", []):
                if r["error"] == "NONE":
                    out[(r["topic"], r["partition"])] = r
        return out

    # -- consumer groups --------------------------------------------------------------------

    def _group(self, group_id: str) -> CoordinatorLink:
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
        out = []
        for group_id in group_ids:
            body = self._runtime.run(self._group(group_id).call(
                ApiKey.DESCRIBE_GROUPS, {"groups": [group_id]}))
            [group] = body["groups"]
            if group["error"] != "NONE":
                raise KafkaError(group["error"], f"group {group_id!r}")
            for m in group["members"]:
                m["partitions"] = [tuple(tp) for tp in
                                   (m.pop("assignment", None) or {}).get("partitions", [])]
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
        body = self._runtime.run(self._group(group_id).call(ApiKey.OFFSET_COMMIT, {
            "group_id": group_id, "member_id": "", "generation": -1,
            "offsets": [{"topic": t, "partition": p, "offset": o}
                        for (t, p), o in sorted(offsets.items())]}))
        errors = {r["error"] for r in body.get("partitions", [])} - {"NONE"}
        if "UNKNOWN_MEMBER_ID" in errors:
            raise KafkaError("NON_EMPTY_GROUP", f"group {group_id!r} has active members: "
                                                "stop its consumers first")
        if errors:
            raise KafkaError(sorted(errors)[0], f"altering offsets of group {group_id!r}")

    def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Each partition's high watermark (what a consumer can read up to)."""
        topics = sorted({t for t, _ in partitions})
        described = {(t["name"], p["partition"]): p.get("high_watermark")
                     for t in self.describe_topics(topics) for p in t["partitions"]}
        return {tp: described.get(tuple(tp)) for tp in partitions}

    def describe_cluster(self) -> dict[str, Any]:
        body = self._call(ApiKey.METADATA, {"topics": []}).body
        return {"brokers": body["brokers"], "metadata_offset": body["metadata_offset"]}

    def close(self) -> None:
        self._runtime.close(self._view.close)

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

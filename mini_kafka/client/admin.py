"""Admin: create, delete and describe topics, describe the cluster (kafka-python's names).

Requests go to any broker, which passes topic changes on to the controller."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from mini_kafka.client.cluster import ClusterView, parse_bootstrap
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
        offsets = self._runtime.run(self._leader_offsets(body["topics"], brokers))
        for t in body["topics"]:
            for p in t["partitions"]:
                p.update(offsets.get((t["name"], p["partition"]), {}))
        return body["topics"]

    async def _leader_offsets(self, topics, brokers) -> dict:
        out = {}
        by_leader: dict[str, list] = {}
        for t in topics:
            for p in t["partitions"]:
                if p["leader"] in brokers:
                    by_leader.setdefault(brokers[p["leader"]], []).append(
                        {"topic": t["name"], "partition": p["partition"], "timestamp": -1})
        for endpoint, parts in by_leader.items():
            try:
                reply = await self._view.request(endpoint, ApiKey.LIST_OFFSETS,
                                                 {"partitions": parts})
            except KafkaError:
                continue
            for r in reply.body.get("partitions", []):
                if r["error"] == "NONE":
                    out[(r["topic"], r["partition"])] = {
                        "high_watermark": r["offset"], "log_end_offset": r.get("log_end_offset")}
        return out

    def describe_cluster(self) -> dict[str, Any]:
        body = self._call(ApiKey.METADATA, {"topics": []}).body
        return {"brokers": body["brokers"], "metadata_offset": body["metadata_offset"]}

    def close(self) -> None:
        self._runtime.close(self._view.close)

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

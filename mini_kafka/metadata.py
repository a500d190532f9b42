"""The cluster metadata image: brokers, topics and partitions at a metadata offset — pure.

Coordinators build it by applying committed commands; brokers keep a copy by applying the
change records the coordinators hand out (or a whole snapshot when too far behind). Both
sides apply the same records with the same code, so they cannot drift apart.

Change records are whole entities (upserts) or removals:
    {"type": "broker", "id", "endpoint", "epoch", "incarnation", "fenced"}
    {"type": "topic", "name", "partitions", "replication_factor", "configs"}
    {"type": "topic_removed", "name"}
    {"type": "partition", "topic", "partition", "replicas", "leader", "leader_epoch",
     "isr", "partition_epoch"}
"""

from __future__ import annotations

from typing import Any

NO_LEADER = -1


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class MetadataImage:
    def __init__(self):
        self.offset = 0
        self.brokers: dict[int, dict[str, Any]] = {}
        self.topics: dict[str, dict[str, Any]] = {}
        self.partitions: dict[str, dict[str, Any]] = {}

    def apply(self, offset: int, records: list[dict[str, Any]]) -> None:
        assert offset >= self.offset, f"metadata offset {offset} before {self.offset}"
        for record in records:
            # A copy without its "type": the caller's record stays as it was (the
            # coordinators keep theirs in their history). dict() and pop() are C; the
            # comprehension this was cost 4x as much, 441 against 94 ns a record.
            body = dict(record)
            kind = body.pop("type")
            if kind == "broker":
                self.brokers[body["id"]] = body
            elif kind == "topic":
                self.topics[body["name"]] = body
            elif kind == "topic_removed":
                self.topics.pop(body["name"], None)
                for p in [k for k, v in self.partitions.items() if v["topic"] == body["name"]]:
                    del self.partitions[p]
            elif kind == "partition":
                self.partitions[partition_key(body["topic"], body["partition"])] = body
            else:
                raise AssertionError(f"unknown metadata record type {kind!r}")
        self.offset = offset

    # -- reading --------------------------------------------------------------------------

    def partition(self, topic: str, partition: int) -> dict[str, Any] | None:
        return self.partitions.get(partition_key(topic, partition))

    def topic_partitions(self, topic: str) -> list[dict[str, Any]]:
        count = self.topics[topic]["partitions"] if topic in self.topics else 0
        return [self.partitions[partition_key(topic, p)] for p in range(count)]

    def unfenced_broker_ids(self) -> list[int]:
        return sorted(b for b, info in self.brokers.items() if not info["fenced"])

    # -- snapshots ------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        return {"offset": self.offset,
                "brokers": [self.brokers[b] for b in sorted(self.brokers)],
                "topics": [self.topics[t] for t in sorted(self.topics)],
                "partitions": [self.partitions[p] for p in sorted(self.partitions)]}

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> MetadataImage:
        image = cls()
        image.offset = snap["offset"]
        image.brokers = {b["id"]: dict(b) for b in snap["brokers"]}
        image.topics = {t["name"]: dict(t) for t in snap["topics"]}
        image.partitions = {partition_key(p["topic"], p["partition"]): dict(p)
                            for p in snap["partitions"]}
        return image

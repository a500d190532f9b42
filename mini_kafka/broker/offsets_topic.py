"""The internal topic `__consumer_offsets`: which partition holds a group, and the
records it holds (pure: no I/O).

A group lives on partition abs(Java String.hashCode(group)) % partitions, as in Kafka, and
the leader of that partition is the group's coordinator. Records are keyed so compaction
keeps the latest of each: one per (group, topic, partition) for committed offsets, one per
group for its membership. Keys and values are JSON (Kafka's are versioned binary
structs; nothing outside mini-kafka reads these).
"""

from __future__ import annotations

import json
from typing import Any

OFFSETS_TOPIC = "__consumer_offsets"
OFFSET, GROUP = "offset", "group"


def java_string_hash(s: str) -> int:
    """Java's String.hashCode: over UTF-16 code units, wrapping at 32 bits (signed)."""
    h = 0
    units = s.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, partitions: int) -> int:
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions  # Kafka's Utils.abs


def topic_configs(replication_factor: int, min_insync_replicas: int) -> dict[str, str]:
    """Compacted, and never asking more in-sync replicas than it has (a one-broker
    cluster still takes commits)."""
    return {"cleanup.policy": "compact",
            "min.insync.replicas": str(min(min_insync_replicas, replication_factor))}


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def offset_record(group_id: str, topic: str, partition: int, offset: int, metadata: str,
                  commit_timestamp_ms: int) -> tuple[bytes, bytes]:
    return (_dump({"type": OFFSET, "group": group_id, "topic": topic,
                   "partition": partition}),
            _dump({"offset": offset, "metadata": metadata,
                   "commit_timestamp": commit_timestamp_ms}))


def group_record(group_id: str, snapshot: dict[str, Any]) -> tuple[bytes, bytes]:
    return _dump({"type": GROUP, "group": group_id}), _dump(snapshot)


def parse(key: bytes | None, value: bytes | None) -> tuple[str, str, Any, Any] | None:
    """(kind, group, what, content) for a record, or None for one this version does not
    know (skipped, not fatal: the topic outlives versions). A null value is a tombstone."""
    try:
        k = json.loads(key) if key else None
        v = json.loads(value) if value is not None else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(k, dict):
        return None
    if k.get("type") == OFFSET:
        what = (k["topic"], k["partition"])
        return OFFSET, k["group"], what, None if v is None else (v["offset"], v["metadata"])
    if k.get("type") == GROUP:
        return GROUP, k["group"], None, v
    return None

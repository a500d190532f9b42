"""Per-topic configuration with Kafka's names (`retention.ms`, `cleanup.policy`, ...).

A topic stores only its overrides; the effective value of a key is the override or the
cluster default from cluster.yaml's `topics` section.
"""

from __future__ import annotations

from typing import Any

from mini_kafka.config import ClusterConfig

# Kafka name -> (cluster.yaml `topics` key or None, kind, lowest allowed value)
TOPIC_CONFIGS: dict[str, tuple[str | None, str, int | None]] = {
    "retention.ms": ("retention_ms", "int", -1),
    "retention.bytes": ("retention_bytes", "int", -1),
    "segment.bytes": ("segment_bytes", "int", 1024),
    "segment.ms": ("segment_ms", "int", 1),
    "cleanup.policy": ("cleanup_policy", "policy", None),
    "min.insync.replicas": ("min_insync_replicas", "int", 1),
    "unclean.leader.election.enable": ("unclean_leader_election_enable", "bool", None),
    "delete.retention.ms": (None, "int", 0),
}
DELETE_RETENTION_MS_DEFAULT = 86_400_000
POLICIES = ("delete", "compact", "compact,delete", "delete,compact")
INT_MAX = 2**63 - 1


class InvalidTopicConfig(ValueError):
    pass


def parse_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate user-given overrides (strings from a CLI, or typed values) and return
    them typed. Raises InvalidTopicConfig naming the key and what is allowed."""
    out = {}
    for key, value in raw.items():
        if key not in TOPIC_CONFIGS:
            raise InvalidTopicConfig(
                f"unknown topic config {key!r} (allowed: {', '.join(sorted(TOPIC_CONFIGS))})")
        _, kind, lowest = TOPIC_CONFIGS[key]
        out[key] = _parse(key, value, kind, lowest)
    return out


def _parse(key: str, value: Any, kind: str, lowest: int | None) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise InvalidTopicConfig(f"{key}={value!r}: must be true or false")
    if kind == "policy":
        if value not in POLICIES:
            raise InvalidTopicConfig(f"{key}={value!r}: must be one of {', '.join(POLICIES)}")
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidTopicConfig(f"{key}={value!r}: must be an integer >= {lowest}") from None
    if isinstance(value, bool) or number < lowest or number > INT_MAX:
        raise InvalidTopicConfig(f"{key}={value!r}: must be an integer >= {lowest}")
    return number


def effective(config: ClusterConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """Every topic config's value for a topic with these overrides."""
    out = {}
    for key, (default_key, _, _) in TOPIC_CONFIGS.items():
        default = getattr(config.topics, default_key) if default_key else \
            DELETE_RETENTION_MS_DEFAULT
        out[key] = overrides.get(key, default)
    return out

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


def config_text(value: Any) -> str:
    """A config value as Kafka's tools show it ("true", "604800000")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def broker_configs(config: ClusterConfig, broker_id: int) -> dict[str, Any]:
    """A broker's settings under Kafka's names, for DescribeConfigs."""
    t = config.topics
    return {"broker.id": broker_id, "num.partitions": t.num_partitions,
            "default.replication.factor": t.default_replication_factor,
            "min.insync.replicas": t.min_insync_replicas, "log.retention.ms": t.retention_ms,
            "log.retention.bytes": t.retention_bytes, "log.segment.bytes": t.segment_bytes,
            "log.cleanup.policy": t.cleanup_policy,
            "unclean.leader.election.enable": t.unclean_leader_election_enable,
            "auto.create.topics.enable": t.auto_create_topics_enable,
            "offsets.topic.num.partitions": t.offsets_topic_num_partitions,
            "transaction.state.log.num.partitions": t.transaction_state_num_partitions,
            "auto.leader.rebalance.enable": t.auto_leader_rebalance_enable,
            "replica.lag.time.max.ms": config.timeouts.replica_lag_time_max_ms,
            "broker.session.timeout.ms": config.timeouts.broker_session_timeout_ms,
            "group.initial.rebalance.delay.ms":
                config.timeouts.group_initial_rebalance_delay_ms,
            "transaction.max.timeout.ms": config.timeouts.transaction_max_timeout_ms}

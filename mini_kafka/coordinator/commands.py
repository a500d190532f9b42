"""Metadata commands: which ops there are and what makes one well-formed — pure.

Checked before a command is proposed and again when it is applied: a malformed entry
must never reach a handler, or it would fail on every replica, at every replay.
"""

from __future__ import annotations

from typing import Any

# op -> required fields and their types.
COMMAND_FIELDS: dict[str, dict[str, type | tuple]] = {
    "register_broker": {"broker_id": int, "endpoint": str, "incarnation": str},
    "unfence_broker": {"broker_id": int, "broker_epoch": int},
    "fence_broker": {"broker_id": int, "broker_epoch": int},
    "fence_brokers": {"brokers": list},
    "report_replicas": {"broker_id": int, "broker_epoch": int},
    "create_topic": {"name": str, "partitions": int, "replication_factor": int},
    "delete_topic": {"name": str},
    "create_partitions": {"name": str, "count": int},
    "alter_partition": {"topic": str, "partition": int, "leader": int, "leader_epoch": int,
                        "partition_epoch": int, "isr": list},
    # Many ISR changes of one leader in one entry, as Kafka's AlterPartition request
    # carries: each checked and applied on its own (state.py).
    "alter_partitions": {"changes": list},
    "elect_preferred_leaders": {},
    "init_producer_id": {},
}
# Optional on unfence_broker and report_replicas: lists of "topic/partition" keys.
REPLICA_LISTS = ("offline_replicas", "damaged_replicas")


# How create_topic and create_partitions place replicas (state.py `_place`). A command
# carries the placement it was proposed under, so that a log replayed by a later version
# places every partition where it was placed then; one without is from before versions
# (1: each partition's followers are the brokers after its leader).
PLACEMENTS = (1, 2)
PLACEMENT = 2  # followers shift every round of partitions, so a dead leader's load spreads
PLACED_OPS = ("create_topic", "create_partitions")


def stamped(command: dict[str, Any]) -> dict[str, Any]:
    """The command as the controller proposes it: with today's placement, if it places."""
    if command.get("op") in PLACED_OPS and "placement" not in command:
        return {**command, "placement": PLACEMENT}
    return command


def check_command(command: Any) -> str | None:
    """What is wrong with a command, or None if it is well-formed."""
    if not isinstance(command, dict):
        return "a command must be an object"
    fields = COMMAND_FIELDS.get(command.get("op"))
    if fields is None:
        return f"unknown command {command.get('op')!r}"
    for name, kind in fields.items():
        value = command.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{command['op']}: field {name!r} must be {kind.__name__}, got {value!r}"
    if command["op"] == "alter_partition" and not all(
            isinstance(b, int) and not isinstance(b, bool) for b in command["isr"]):
        return "alter_partition: isr must be a list of broker ids"
    if command["op"] == "alter_partitions":
        for change in command["changes"]:
            problem = check_command({**change, "op": "alter_partition"}) \
                if isinstance(change, dict) else "each change must be an object"
            if problem:
                return f"alter_partitions: {problem}"
    if command["op"] == "create_topic" and not isinstance(command.get("configs") or {}, dict):
        return "create_topic: configs must be an object"
    if command["op"] == "register_broker" and \
            not isinstance(command.get("kafka_endpoint", ""), str | None):
        return "register_broker: kafka_endpoint must be host:port or null"
    if command["op"] in PLACED_OPS and command.get("placement", 1) not in PLACEMENTS:
        return f"{command['op']}: placement must be one of {list(PLACEMENTS)}"
    if command["op"] == "fence_brokers":
        problem = _check_fence_list(command["brokers"])
        if problem:
            return f"fence_brokers: {problem}"
    if command["op"] == "elect_preferred_leaders":
        problem = _check_election_scope(command.get("topics"))
        if problem:
            return f"elect_preferred_leaders: {problem}"
    for name in REPLICA_LISTS:
        value = command.get(name, [])
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            return f"{command['op']}: {name} must be a list of 'topic/partition' strings"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fence_list(brokers: list) -> str | None:
    ids = []
    for b in brokers:
        if not isinstance(b, dict) or not _is_int(b.get("broker_id")) or \
                not _is_int(b.get("broker_epoch")):
            return f"brokers must be objects with integer broker_id and broker_epoch, not {b!r}"
        ids.append(b["broker_id"])
    if len(set(ids)) != len(ids):
        return f"a broker is named twice in {ids}"
    return None


def _check_election_scope(topics: Any) -> str | None:
    """topics: absent (every partition) or topic -> null (all its partitions) or a list
    of partition numbers."""
    if topics is None:
        return None
    if not isinstance(topics, dict):
        return "topics must map topic names to null or a list of partitions"
    for name, partitions in topics.items():
        if partitions is not None and (not isinstance(partitions, list) or
                                       not all(_is_int(p) for p in partitions)):
            return f"topic {name!r}: partitions must be null or a list of integers"
    return None

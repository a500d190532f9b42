"""Kafka's ConsumerProtocol: what consumer-group members put in JoinGroup's protocol
metadata (their subscription) and what the leader hands out in SyncGroup (each member's
assignment) — pure.

Both are opaque to the coordinator; every Kafka client encodes them this way, and so
does mini-kafka's own client, so one group can mix both kinds of member. The bytes are
`int16 version` then the struct of that version; a newer version only appends fields,
so one we do not know is read as the newest we do.
"""

from __future__ import annotations

import base64
import io
import struct
from functools import cache

from mini_kafka.kafka_protocol.codec import MalformedRequest, reader_for, writer_for
from mini_kafka.kafka_protocol.length_guard import check_flexible_body

_VERSION = struct.Struct(">h")
SUBSCRIPTION_VERSION = 1  # v1 carries owned partitions (cooperative rebalancing)
ASSIGNMENT_VERSION = 1


@cache
def _module(kind: str, version: int):
    import importlib
    return importlib.import_module(f"kio.schema.consumer_protocol_{kind}.v{version}.data")


def _known(kind: str, version: int) -> int:
    newest = 3 if kind == "subscription" else 3
    if version < 0:
        raise MalformedRequest(f"consumer protocol {kind} version {version}")
    return min(version, newest)


def _grouped(tps) -> list[dict]:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in tps:
        by_topic.setdefault(topic, []).append(partition)
    return [{"topic": t, "partitions": tuple(sorted(ps))} for t, ps in sorted(by_topic.items())]


def encode_subscription(topics, owned=(), user_data: bytes | None = None) -> bytes:
    m = _module("subscription", SUBSCRIPTION_VERSION)
    entity = m.ConsumerProtocolSubscription(
        topics=tuple(sorted(topics)), user_data=user_data,
        owned_partitions=tuple(m.TopicPartition(**tp) for tp in _grouped(owned)))
    return _write(SUBSCRIPTION_VERSION, entity)


def decode_subscription(data: bytes) -> dict:
    """{"topics": [...], "owned": [(topic, partition), ...], "user_data": bytes|None}"""
    entity = _read("subscription", data, "ConsumerProtocolSubscription")
    owned = [(tp.topic, p) for tp in getattr(entity, "owned_partitions", ())
             for p in tp.partitions]
    return {"topics": list(entity.topics), "owned": owned, "user_data": entity.user_data}


def encode_assignment(partitions, user_data: bytes | None = None) -> bytes:
    m = _module("assignment", ASSIGNMENT_VERSION)
    entity = m.ConsumerProtocolAssignment(
        assigned_partitions=tuple(m.TopicPartition(**tp) for tp in _grouped(partitions)),
        user_data=user_data)
    return _write(ASSIGNMENT_VERSION, entity)


def decode_assignment(data: bytes | None) -> list[tuple[str, int]]:
    """The (topic, partition)s assigned; an empty assignment may be empty bytes."""
    if not data:
        return []
    entity = _read("assignment", data, "ConsumerProtocolAssignment")
    return [(tp.topic, p) for tp in entity.assigned_partitions for p in tp.partitions]


def _write(version: int, entity) -> bytes:
    buf = io.BytesIO()
    buf.write(_VERSION.pack(version))
    writer_for(type(entity))(buf, entity)
    return buf.getvalue()


def _read(kind: str, data, class_name: str):
    data = bytes(data)
    if len(data) < _VERSION.size:
        raise MalformedRequest(f"consumer protocol {kind} of {len(data)} bytes")
    (version,) = _VERSION.unpack_from(data)
    cls = getattr(_module(kind, _known(kind, version)), class_name)
    try:
        if cls.__flexible__:  # none of today's are; kio trusts a compact array's length
            check_flexible_body(cls, data, _VERSION.size)
        entity, _ = reader_for(cls)(data, _VERSION.size)
    except Exception as e:  # kio's native reader raises several types on bad bytes
        raise MalformedRequest(f"consumer protocol {kind}: {e}") from None
    return entity


# The broker's handlers carry opaque bytes as base64 text (their bodies are JSON-shaped);
# mini-kafka's own client sends and reads these forms.

def subscription_text(topics, owned=()) -> str:
    return base64.b64encode(encode_subscription(topics, owned)).decode()


def subscription_from_text(text: str | None) -> dict:
    return decode_subscription(base64.b64decode(text or ""))


def assignment_text(partitions) -> str:
    return base64.b64encode(encode_assignment(partitions)).decode()


def assignment_from_text(text: str | None) -> list[tuple[str, int]]:
    return decode_assignment(base64.b64decode(text) if text else b"")

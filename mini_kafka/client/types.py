"""The values clients hand out: kafka-python's names and shapes."""

from __future__ import annotations

from typing import NamedTuple


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class ConsumerRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    leader_epoch: int


class OffsetAndMetadata(NamedTuple):
    offset: int
    metadata: str = ""

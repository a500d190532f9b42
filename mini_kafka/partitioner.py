"""Kafka's keyed partitioning: murmur2 of the key bytes, so a key lands on the same
partition here as with Kafka's Java client (seed 0x9747b28c, m 0x5bd1e995, r 24,
little-endian 4-byte blocks). Records without a key are spread round-robin."""

from __future__ import annotations

import itertools
import struct

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2, as a signed 32-bit int."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    blocks = length // 4
    for (k,) in struct.iter_unpack("<I", data[:blocks * 4]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[blocks * 4:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, num_partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class RoundRobin:
    """Where records without a key go: each next partition in turn, per topic."""

    def __init__(self):
        self._counters: dict[str, itertools.count] = {}

    def next(self, topic: str, num_partitions: int) -> int:
        counter = self._counters.setdefault(topic, itertools.count())
        return next(counter) % num_partitions

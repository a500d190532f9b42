"""Kafka's keyed partitioning: murmur2 of the key bytes, so a key lands on the same
partition here as with Kafka's Java client (seed 0x9747b28c, m 0x5bd1e995, r 24,
little-endian 4-byte blocks). Records without a key stick to a partition for a batch."""

from __future__ import annotations

import struct
from bisect import bisect_left
from itertools import accumulate

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


class StickyPartitioner:
    """Where records without a key go: Kafka's uniform sticky partitioner (KIP-794). All
    of a topic's keyless records go to one partition until batch_size bytes have gone
    there, then to the next: they fill whole batches (round-robin per record made one
    small batch per partition, each its own request) and still spread evenly. The first
    partition of each topic is drawn from `rng`, so producers do not all start on one."""

    def __init__(self, batch_size: int, rng):
        self._batch_size = batch_size
        self._rng = rng
        self._sticky: dict[str, list[int]] = {}  # topic -> [partition, bytes sent to it]

    def partition(self, topic: str, num_partitions: int, size: int) -> int:
        state = self._sticky.get(topic)
        if state is None:
            state = self._sticky[topic] = [self._rng.randrange(num_partitions), 0]
        elif state[1] >= self._batch_size:
            state[0], state[1] = state[0] + 1, 0
        state[1] += size
        return state[0] % num_partitions

    def runs(self, topic: str, num_partitions: int, sizes: list[int]
             ) -> list[tuple[int, int, int]]:
        """Where records of `sizes` bytes go, in order, as (partition, start, end) runs:
        exactly where one partition() call per record would send them, found by bisecting
        their running total instead of a Python step per record (send_many's path)."""
        state = self._sticky.get(topic)
        if state is None:
            state = self._sticky[topic] = [self._rng.randrange(num_partitions), 0]
        total = [0, *accumulate(sizes)]  # total[k]: bytes of the first k records
        runs, start, count = [], 0, len(sizes)
        while start < count:
            if state[1] >= self._batch_size:
                state[0], state[1] = state[0] + 1, 0
            # Record k > start still goes here while the bytes before it are under
            # batch_size: the run ends at the first k where they reach it.
            end = min(count, bisect_left(total, self._batch_size - state[1] + total[start],
                                         start + 1))
            runs.append((state[0] % num_partitions, start, end))
            state[1] += total[end] - total[start]
            start = end
        return runs

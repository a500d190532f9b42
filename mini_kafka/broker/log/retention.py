"""Which old segments retention deletes — pure, so it is tested with made-up segments and
times. Whole segments only, oldest first, never the active (last) one, as in Kafka."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentFacts:
    base_offset: int
    size_bytes: int
    max_timestamp: int  # -1 for an empty segment


def segments_to_delete(segments: list[SegmentFacts], now_ms: int, retention_ms: int,
                       retention_bytes: int) -> int:
    """How many leading segments to delete (0 keeps all).

    By time: a segment goes once its largest timestamp is older than retention_ms.
    By size: the oldest go while the log, without them, still holds retention_bytes.
    -1 disables either rule."""
    closed = segments[:-1]
    count = 0
    if retention_ms >= 0:
        for seg in closed:
            if seg.max_timestamp < 0 or now_ms - seg.max_timestamp <= retention_ms:
                break
            count += 1
    if retention_bytes >= 0:
        excess = sum(s.size_bytes for s in segments) - retention_bytes
        by_size = 0
        for seg in closed:
            if excess - seg.size_bytes < 0:
                break
            excess -= seg.size_bytes
            by_size += 1
        count = max(count, by_size)
    return count

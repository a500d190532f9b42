"""Log compaction (`cleanup.policy=compact`): keep the latest record of each key.

Only closed segments are rewritten; the active one is left alone. Offsets and order are
preserved (gaps are allowed); a batch whose records partly survive is re-encoded with
the survivors' original offsets and its original last offset delta, producer id, epoch
and sequence. A tombstone (null value) is itself removed once it is the latest for its
key and older than delete_retention_ms, so consumers that were behind still see it.
Control batches (transaction markers) are kept. Records without a key are kept.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from mini_kafka import records
from mini_kafka.broker.log.log import CLEANING_DIR, PartitionLog
from mini_kafka.broker.log.segment import Segment


@dataclass
class CompactionStats:
    segments_rewritten: int = 0
    records_removed: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


def compact(plog: PartitionLog, now_ms: int) -> CompactionStats:
    stats = CompactionStats()
    if "compact" not in plog.config.cleanup_policy or len(plog.segments) < 2:
        return stats
    latest = _latest_offset_per_key(plog)
    tombstone_deadline = now_ms - plog.config.delete_retention_ms
    for seg in list(plog.segments[:-1]):
        kept_batches, removed = _clean_batches(seg, latest, tombstone_deadline)
        if not removed:
            continue
        stats.segments_rewritten += 1
        stats.records_removed += removed
        stats.bytes_before += seg.size
        cleaned_dir = plog.directory / CLEANING_DIR
        plog.disk.mkdir(cleaned_dir)
        copy = Segment.create(cleaned_dir, seg.base_offset, plog.config.index_interval_bytes,
                              plog.disk, file_now=True)  # swapped in even with no batch
        for header, data in kept_batches:
            copy.append([data], header)
        copy.flush()
        copy.close()
        new = plog.replace_segment(seg, cleaned_dir)
        stats.bytes_after += new.size
        shutil.rmtree(cleaned_dir, ignore_errors=True)
    return stats


def _latest_offset_per_key(plog: PartitionLog) -> dict[bytes, int]:
    latest: dict[bytes, int] = {}
    for seg in plog.segments:
        for header, data in seg.batches():
            if header.is_control:
                continue
            for record in records.decode_batch(data, verify_crc=False)[1]:
                if record.key is not None:
                    latest[record.key] = record.offset
    return latest


def _clean_batches(seg: Segment, latest: dict[bytes, int], tombstone_deadline: int):
    kept_batches = []
    removed = 0
    for header, data in seg.batches():
        if header.is_control:
            kept_batches.append((header, data))
            continue
        recs = records.decode_batch(data, verify_crc=False)[1]
        keep = [r for r in recs if r.key is None or (
            latest.get(r.key) == r.offset
            and not (r.value is None and r.timestamp < tombstone_deadline))]
        removed += len(recs) - len(keep)
        if len(keep) == len(recs):
            kept_batches.append((header, data))
        elif keep:
            rebuilt = records.encode_batch(
                [(r.key, r.value, r.timestamp, r.headers) for r in keep],
                base_offset=header.base_offset, base_timestamp=header.base_timestamp,
                producer_id=header.producer_id, producer_epoch=header.producer_epoch,
                base_sequence=header.base_sequence,
                partition_leader_epoch=header.partition_leader_epoch,
                transactional=header.is_transactional,
                offset_deltas=[r.offset - header.base_offset for r in keep],
                last_offset_delta=header.last_offset_delta)
            kept_batches.append((records.peek_header(rebuilt), rebuilt))
    return kept_batches, removed

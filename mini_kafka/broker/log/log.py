"""A partition replica's log: an ordered list of segments in `<topic>-<partition>/`.

Offsets are assigned on the leader at append (`append_as_leader`); followers append the
leader's batches with their offsets as they are (`append_as_follower`). Records are never
rewritten in place: the only ways data leaves the log are truncation of a divergent tail,
retention of whole old segments, and compaction (which copies a segment and swaps it).

Durability follows Kafka: no fsync per append (replication is the durability); a segment
is flushed when it is rolled, and the flushed prefix is the recovery point. After an
unclean shutdown, segments from the recovery point on are re-validated by CRC and cut at
the first bad batch; corruption below the recovery point is an error, not a truncation.
"""

from __future__ import annotations

import logging
import os
import shutil
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from mini_kafka import records
from mini_kafka.broker.log.epochs import LeaderEpochCache
from mini_kafka.broker.log.retention import SegmentFacts, segments_to_delete
from mini_kafka.broker.log.segment import Segment, segment_name
from mini_kafka.errors import KafkaError
from mini_kafka.records import BatchHeader, CorruptRecordError

log = logging.getLogger("mini_kafka.broker.log")

CLEAN_SHUTDOWN_FILE = ".clean-shutdown"
RECOVERY_POINT_FILE = "recovery-point"
CLEANING_DIR = ".cleaning"
RELATIVE_OFFSET_MAX = 2**32 - 1


@dataclass(frozen=True)
class LogConfig:
    segment_bytes: int = 64 * 1024 * 1024
    segment_ms: int = 604_800_000
    retention_ms: int = 604_800_000
    retention_bytes: int = -1
    index_interval_bytes: int = 4096
    cleanup_policy: str = "delete"  # "delete", "compact" or "compact,delete"
    delete_retention_ms: int = 86_400_000  # how long tombstones outlive compaction


class PartitionLog:
    def __init__(self, directory: Path, config: LogConfig, clock):
        self.directory = Path(directory)
        self.config = config
        self.clock = clock
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.directory / CLEANING_DIR, ignore_errors=True)  # an interrupted clean
        marker = self.directory / CLEAN_SHUTDOWN_FILE
        self.was_clean_shutdown = marker.exists()
        marker.unlink(missing_ok=True)  # from now on, a crash is an unclean shutdown
        self.recovery_point = self._read_recovery_point()
        self.segments: list[Segment] = self._open_segments()
        self.epochs = LeaderEpochCache(self.directory)
        self.epochs.truncate_from_end(self.log_end_offset)
        self.epochs.truncate_from_start(self.log_start_offset)

    # -- opening and recovery -----------------------------------------------------------

    def _read_recovery_point(self) -> int:
        try:
            return int((self.directory / RECOVERY_POINT_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def _write_recovery_point(self, offset: int) -> None:
        self.recovery_point = offset
        tmp = self.directory / (RECOVERY_POINT_FILE + ".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.directory / RECOVERY_POINT_FILE)

    def _open_segments(self) -> list[Segment]:
        bases = sorted(int(p.stem) for p in self.directory.glob("*.log") if p.stem.isdigit())
        interval = self.config.index_interval_bytes
        segments: list[Segment] = []
        for i, base in enumerate(bases):
            next_base = bases[i + 1] if i + 1 < len(bases) else None
            trusted = self.was_clean_shutdown or (
                next_base is not None and next_base <= self.recovery_point)
            if trusted:
                segments.append(Segment.open_trusted(self.directory, base, interval))
                continue
            seg, cut = Segment.recover(self.directory, base, interval)
            segments.append(seg)
            if cut:
                for later in bases[i + 1:]:
                    log.warning("%s: deleting segment %d after the truncation point",
                                self.directory.name, later)
                    Segment(self.directory, later, interval).delete()
                break
        if not segments:
            segments.append(Segment.create(self.directory, 0, interval))
        return segments

    # -- offsets ------------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self.segments[0].base_offset

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset

    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    # -- appending ----------------------------------------------------------------------

    def append_as_leader(self, batch, leader_epoch: int) -> BatchHeader:
        """Append one producer batch, assigning offsets from the log end and stamping the
        leader epoch. Returns the stamped header. Raises CorruptRecordError on a bad batch."""
        header = records.validate_batch(batch)
        if header.size != len(batch):
            raise CorruptRecordError(f"{len(batch) - header.size} byte(s) after the batch")
        if header.compression:
            raise CorruptRecordError(f"compression type {header.compression} not supported")
        base = self.log_end_offset
        stamped = header._replace(base_offset=base, partition_leader_epoch=leader_epoch)
        self._maybe_roll(stamped)
        self.active.append([records.stamp_prefix(header, base, leader_epoch),
                            memoryview(batch)[records.PREFIX_BYTES:]], stamped)
        self.epochs.assign(leader_epoch, base)
        return stamped

    def append_as_follower(self, data) -> list[BatchHeader]:
        """Append the leader's batches as they are; each must start at our log end."""
        appended = []
        view = memoryview(data)
        end = 0
        for pos, header in records.iter_headers(data):
            records.validate_batch(data, pos)
            if header.base_offset != self.log_end_offset:
                raise CorruptRecordError(
                    f"batch at offset {header.base_offset} does not follow log end offset "
                    f"{self.log_end_offset}")
            self._maybe_roll(header)
            self.active.append([view[pos:pos + header.size]], header)
            self.epochs.assign(header.partition_leader_epoch, header.base_offset)
            appended.append(header)
            end = pos + header.size
        if end != len(data):
            raise CorruptRecordError(f"{len(data) - end} byte(s) of partial batch in the data")
        return appended

    def _maybe_roll(self, incoming: BatchHeader) -> None:
        seg = self.active
        if seg.size == 0:
            return
        now = self.clock.wall_ms()
        too_big = seg.size + incoming.size > self.config.segment_bytes
        too_old = (seg.first_batch_timestamp is not None
                   and now - seg.first_batch_timestamp > self.config.segment_ms)
        overflow = incoming.last_offset - seg.base_offset > RELATIVE_OFFSET_MAX
        if too_big or too_old or overflow:
            self.roll()

    def roll(self) -> None:
        """Close the active segment (flushed: it becomes the recovery point) and start a
        new one at the log end."""
        self.active.flush()
        self._write_recovery_point(self.log_end_offset)
        self.segments.append(Segment.create(self.directory, self.log_end_offset,
                                            self.config.index_interval_bytes))

    # -- reading ------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, upto_offset: int | None = None) -> bytes:
        """Whole batches starting with the one that holds `offset` (a read may start
        mid-batch, as in Kafka), at most max_bytes unless the first batch alone is larger,
        and none at or past `upto_offset` (the high watermark, for consumers)."""
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise KafkaError("OFFSET_OUT_OF_RANGE",
                             f"offset {offset} is outside the log's range "
                             f"[{self.log_start_offset}, {self.log_end_offset}]")
        limit = self.log_end_offset if upto_offset is None else min(upto_offset,
                                                                     self.log_end_offset)
        if offset >= limit:
            return b""
        i = bisect_right([s.base_offset for s in self.segments], offset) - 1
        for seg in self.segments[i:]:
            position = seg.position_of(offset)
            if position is not None:
                return seg.read(position, max_bytes, upto_offset)
        return b""

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """The earliest offset whose record timestamp is >= `timestamp`; None if none."""
        for seg in self.segments:
            if seg.max_timestamp >= timestamp:
                found = seg.offset_for_timestamp(timestamp)
                if found is not None:
                    return found
        return None

    def headers(self):
        """Every batch header, oldest first (rebuilding producer state on open)."""
        for seg in self.segments:
            for _, header in seg.headers():
                yield header

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return self.epochs.end_offset_for(epoch, self.log_end_offset)

    # -- cutting ------------------------------------------------------------------------

    def truncate_to(self, offset: int) -> None:
        """Remove everything at or past `offset` (a straddling batch goes whole): for a
        follower whose tail diverged from the leader's."""
        if offset >= self.log_end_offset:
            return
        if offset <= self.log_start_offset:
            self.truncate_fully_and_start_at(offset)
            return
        while len(self.segments) > 1 and self.active.base_offset >= offset:
            self.segments.pop().delete()
        self.active.truncate_to(offset)
        self.epochs.truncate_from_end(self.log_end_offset)
        if self.recovery_point > self.log_end_offset:
            self._write_recovery_point(self.log_end_offset)
        log.info("%s truncated to offset %d", self.directory.name, self.log_end_offset)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop every segment and begin empty at `offset` (a follower far behind a leader
        whose log now starts later)."""
        for seg in self.segments:
            seg.delete()
        self.segments = [Segment.create(self.directory, offset,
                                        self.config.index_interval_bytes)]
        self.epochs.clear()
        self._write_recovery_point(offset)

    def apply_retention(self, now_ms: int) -> int:
        """Delete old segments per retention_ms / retention_bytes; returns how many."""
        if "delete" not in self.config.cleanup_policy:
            return 0
        facts = [SegmentFacts(s.base_offset, s.size, s.max_timestamp) for s in self.segments]
        count = segments_to_delete(facts, now_ms, self.config.retention_ms,
                                   self.config.retention_bytes)
        for seg in self.segments[:count]:
            log.info("%s: retention deletes segment %d", self.directory.name, seg.base_offset)
            seg.delete()
        del self.segments[:count]
        if count:
            self.epochs.truncate_from_start(self.log_start_offset)
        return count

    def replace_segment(self, old: Segment, cleaned_dir: Path) -> Segment:
        """Swap in a cleaned copy of `old` written under `cleaned_dir` (compaction). The
        old indexes go first, so a crash mid-swap leaves a log whose index is rebuilt."""
        i = self.segments.index(old)
        old.close()
        old.index.delete()
        old.time_index.delete()
        stem = segment_name(old.base_offset)
        for suffix in (".log", ".index", ".timeindex"):
            os.replace(cleaned_dir / f"{stem}{suffix}", self.directory / f"{stem}{suffix}")
        seg = Segment.open_trusted(self.directory, old.base_offset,
                                   self.config.index_interval_bytes)
        self.segments[i] = seg
        return seg

    # -- closing ------------------------------------------------------------------------

    def flush(self) -> None:
        self.active.flush()
        self._write_recovery_point(self.log_end_offset)

    def close(self) -> None:
        """Clean shutdown: flush, close, and leave the marker that lets the next open skip
        recovery."""
        self.flush()
        for seg in self.segments:
            seg.close()
        (self.directory / CLEAN_SHUTDOWN_FILE).touch()

    def delete(self) -> None:
        for seg in self.segments:
            seg.close()
        shutil.rmtree(self.directory, ignore_errors=True)

"""A partition replica's log: an ordered list of segments in `<topic>-<partition>/`.

Offsets are assigned on the leader at append (`append_as_leader`); followers append the
leader's batches with their offsets as they are (`append_as_follower`). Records are never
rewritten in place: the only ways data leaves the log are truncation of a divergent tail,
retention of whole old segments, and compaction (which copies a segment and swaps it).

Durability follows Kafka: no fsync per append (replication is the durability); a segment
is flushed when it is rolled, and the end of the flushed segments is the recovery point.

What was written is checked before it is trusted again, clean shutdown or not: at every
open, each segment past the recovery point (the active one, at least) is re-validated by
CRC and cut at the first bad batch, later segments going with it; `damage` then says
what was lost, so the replica fetches it again from the leader and must not lead on a
log it no longer wholly has. Older segments are opened without reading them, which keeps
a start short however much data there is, and their batches are CRC-checked as they are
served instead; one that fails lowers the recovery point (CorruptSegmentError), so the
next open validates and cuts it.

Every write goes through a Disk (disk.py): its OSError (a full disk, real or injected)
leaves the log as it was before the write that failed.
"""

from __future__ import annotations

import logging
import os
import shutil
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from mini_kafka import compression, records
from mini_kafka.broker.log.disk import Disk
from mini_kafka.broker.log.epochs import CHECKPOINT_FILE, CorruptCheckpointError, LeaderEpochCache
from mini_kafka.broker.log.retention import SegmentFacts, segments_to_delete
from mini_kafka.broker.log.segment import CorruptSegmentError, Segment, segment_name
from mini_kafka.errors import KafkaError
from mini_kafka.records import BatchHeader, CorruptRecordError

log = logging.getLogger("mini_kafka.broker.log")

CLEAN_SHUTDOWN_FILE = ".clean-shutdown"
PARTITION_METADATA_FILE = "partition.metadata"
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
    def __init__(self, directory: Path, config: LogConfig, clock, disk: Disk | None = None,
                 topic_id: str | None = None):
        """`topic_id`: to record in partition.metadata (Kafka's), which the directory
        lacks. It is written with the first batch, before it (or now, if the log already
        holds batches): a directory with no data has nothing to mistake for another
        topic's.

        A new replica makes nothing on disk, not even its directory, until its first
        batch (`_before_data`): on this host's ext4 each directory or file made cost
        0.1-1.7 ms of kernel time, and a 1000-partition RF=3 topic is 3000 new replicas
        at once. One never written (an idle partition) costs no file at all, at its
        creation, at a clean shutdown or at the next start."""
        self.directory = Path(directory)
        self.config = config
        self.clock = clock
        self.disk = disk or Disk()
        # A replica new to this broker has nothing to recover, clean up or read back: a
        # topic of 1000 partitions is ~30 new replicas on each of 100 brokers at once,
        # and these file-system calls were a third of what opening one cost.
        self.fresh = fresh = not self.directory.is_dir()
        self._dir_made = not fresh
        self._unwritten_topic_id = topic_id
        self._set_for_data = False  # _before_data done: one flag on the append path
        marker = self.directory / CLEAN_SHUTDOWN_FILE
        self.was_clean_shutdown = False
        if not fresh:
            shutil.rmtree(self.directory / CLEANING_DIR, ignore_errors=True)  # a clean cut short
            self.was_clean_shutdown = marker.exists()
            marker.unlink(missing_ok=True)  # from now on, a crash is an unclean shutdown
        self.damage: str | None = None  # what opening had to cut, if anything
        # (A missing recovery point reads as 0, which is what a new log's is.)
        self.recovery_point = 0 if fresh else self._read_recovery_point()
        self._corrupt_from: int | None = None  # a segment found corrupt: not trusted again
        self.segments: list[Segment] = []
        try:
            self.segments = self._open_segments(fresh)
            self.epochs = self._open_epochs(fresh)
            self.epochs.truncate_from_end(self.log_end_offset)
            self.epochs.truncate_from_start(self.log_start_offset)
            if not fresh:
                if (self.log_end_offset, self._corrupt_from) != (self.recovery_point, None):
                    self._write_recovery_point(self.log_end_offset)
                if self.size_bytes:  # batches from before directories kept their topic id
                    self._before_data()
        except BaseException:
            self._close_files()
            raise

    # -- opening and recovery -----------------------------------------------------------

    def _read_recovery_point(self) -> int:
        try:
            return int((self.directory / RECOVERY_POINT_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def _write_recovery_point(self, offset: int) -> None:
        self._make_dir()
        if self._corrupt_from is not None:
            offset = min(offset, self._corrupt_from)
        self.disk.write_file(self.directory / RECOVERY_POINT_FILE, str(offset).encode())
        self.recovery_point = offset

    def _open_epochs(self, fresh: bool) -> LeaderEpochCache:
        try:
            return LeaderEpochCache(self.directory, self.disk, read=not fresh)
        except CorruptCheckpointError as e:
            log.warning("%s; rebuilding it from the batches' leader epochs", e)
        (self.directory / CHECKPOINT_FILE).unlink()
        epochs = LeaderEpochCache(self.directory, self.disk)
        for header in self.headers():
            epochs.assign(header.partition_leader_epoch, header.base_offset)
        return epochs

    def _open_segments(self, fresh: bool) -> list[Segment]:
        bases = [] if fresh else sorted(int(p.stem) for p in self.directory.glob("*.log")
                                        if p.stem.isdigit())
        interval = self.config.index_interval_bytes
        segments: list[Segment] = []
        for i, base in enumerate(bases):
            next_base = bases[i + 1] if i + 1 < len(bases) else None
            if next_base is not None and next_base <= self.recovery_point:
                try:
                    segments.append(Segment.open_trusted(self.directory, base, interval,
                                                         self.disk))
                    continue
                except CorruptSegmentError as e:
                    log.error("%s: %s; validating it", self.directory.name, e)
            # A clean shutdown left trustworthy indexes: check the batches only.
            opener = Segment.open_checked if self.was_clean_shutdown else Segment.recover
            seg, cut = opener(self.directory, base, interval, self.disk)
            segments.append(seg)
            if cut and seg.next_offset == next_base:
                continue  # only junk past its last batch: no offset is lost
            if cut:
                later = bases[i + 1:]
                for other in later:
                    Segment(self.directory, other, interval, self.disk).delete()
                self.damage = (f"segment {base} was cut at offset {seg.next_offset} "
                               f"({cut} byte(s)) and {len(later)} later segment(s) deleted")
                log.error("%s: corrupt or torn data: %s", self.directory.name, self.damage)
                break
        if not segments:
            segments.append(Segment.create(self.directory, 0, interval, self.disk))
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
        if header.compression not in compression.NAMES:
            raise CorruptRecordError(f"unknown compression codec {header.compression}")
        base = self.log_end_offset
        stamped = header._replace(base_offset=base, partition_leader_epoch=leader_epoch)
        self._maybe_roll(stamped)
        if not self._set_for_data:
            self._before_data()
        # The epoch first: if the batch then fails to go down, an epoch that begins at the
        # log end is what any new leader holds; a batch with no epoch would be worse.
        self.epochs.assign(leader_epoch, base)
        self.active.append([records.stamp_prefix(header, base, leader_epoch),
                            memoryview(batch)[records.PREFIX_BYTES:]], stamped)
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
            if not self._set_for_data:
                self._before_data()
            self.epochs.assign(header.partition_leader_epoch, header.base_offset)
            self.active.append([view[pos:pos + header.size]], header)
            appended.append(header)
            end = pos + header.size
        if end != len(data):
            raise CorruptRecordError(f"{len(data) - end} byte(s) of partial batch in the data")
        return appended

    def _make_dir(self) -> None:
        if not self._dir_made:
            self.disk.mkdir(self.directory)
            self._dir_made = True

    @property
    def on_disk(self) -> bool:
        """Whether the log has its directory yet (its first batch, or an earlier life)."""
        return self._dir_made

    def _before_data(self) -> None:
        self._make_dir()
        if self._unwritten_topic_id is not None:
            # Read back only up to its last newline (replica_storage), so a torn write is
            # no topic id rather than a wrong one.
            self.disk.write_new_file(self.directory / PARTITION_METADATA_FILE,
                                     f"version: 0\ntopic_id: {self._unwritten_topic_id}\n"
                                     .encode())
            self._unwritten_topic_id = None
        self._set_for_data = True

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
        """Close the active segment (flushed: it becomes the recovery point; its batches
        were checked as they were appended) and start a new one at the log end."""
        self.active.flush()
        self.epochs.flush()  # before the recovery point passes the epochs it covers
        self._write_recovery_point(self.log_end_offset)
        # Its file now, as every segment's but a new log's first: a segment's base offset
        # is in its file's name, and one with no file would reopen as offset 0.
        self.segments.append(Segment.create(self.directory, self.log_end_offset,
                                            self.config.index_interval_bytes, self.disk,
                                            file_now=True))

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
            try:
                position = seg.position_of(offset)
                if position is None:
                    continue
                data = seg.read(position, max_bytes, upto_offset)
                if not seg.verified:
                    for pos, _ in records.iter_headers(data):
                        records.validate_batch(data, pos)
            except CorruptRecordError as e:
                self._distrust(seg, e)
            return data
        return b""

    def _distrust(self, seg: Segment, error: CorruptRecordError):
        """A segment trusted at open turned out corrupt: the next open must validate it
        (and cut it) instead of trusting it again."""
        if self._corrupt_from is None or seg.base_offset < self._corrupt_from:
            self._corrupt_from = seg.base_offset
        if self.recovery_point > seg.base_offset:
            try:
                self._write_recovery_point(seg.base_offset)
            except OSError as e:
                log.error("%s: cannot record that segment %d needs validation: %s",
                          self.directory.name, seg.base_offset, e)
        raise CorruptSegmentError(f"{self.directory.name}: segment {seg.base_offset}: "
                                  f"{error}")

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """The earliest offset whose record timestamp is >= `timestamp`; None if none."""
        for seg in self.segments:
            if seg.max_timestamp >= timestamp:
                found = seg.offset_for_timestamp(timestamp)
                if found is not None:
                    return found
        return None

    def offset_of_max_timestamp(self, upto_offset: int) -> tuple[int, int]:
        """(offset, timestamp) of the record with the largest timestamp below
        `upto_offset` (ListOffsets' MAX_TIMESTAMP, KIP-734); (-1, -1) if none."""
        best = (-1, -1)  # (timestamp, offset)
        for seg in self.segments:
            if seg.base_offset >= upto_offset or seg.max_timestamp <= best[0]:
                continue
            for pos, header in seg.headers():
                if header.base_offset >= upto_offset:
                    break
                if header.max_timestamp > best[0]:
                    for record in records.decode_batch(seg.read(pos, header.size, None),
                                                       verify_crc=False)[1]:
                        if record.offset < upto_offset and record.timestamp > best[0]:
                            best = (record.timestamp, record.offset)
        return best[1], best[0]

    def headers(self):
        """Every batch header, oldest first (rebuilding producer state on open)."""
        for seg in self.segments:
            try:
                yield from (header for _, header in seg.headers())
            except CorruptRecordError as e:
                self._distrust(seg, e)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return self.epochs.end_offset_for(epoch, self.log_end_offset)

    # -- cutting ------------------------------------------------------------------------

    def truncate_to(self, offset: int) -> None:
        """Remove everything at or past `offset` (a straddling batch goes whole): for a
        follower whose tail diverged from the leader's."""
        if offset >= self.log_end_offset:
            # No record to cut, but an epoch this replica began as leader and never wrote
            # in starts at the log end: it is not common with the leader that asked for
            # this cut. Kept, the next fetch names it again and diverges again, forever
            # (Kafka's fix for the same loop).
            self.epochs.truncate_from_end(self.log_end_offset)
            return
        if offset <= self.log_start_offset:
            self.truncate_fully_and_start_at(offset)
            return
        while len(self.segments) > 1 and self.active.base_offset >= offset:
            self.segments.pop().delete()
        self.active.truncate_to(offset)
        self.epochs.truncate_from_end(self.log_end_offset)
        if self._corrupt_from is not None and self._corrupt_from >= self.log_end_offset:
            self._corrupt_from = None  # that segment is gone
        if self.recovery_point > self.log_end_offset:
            self._write_recovery_point(self.log_end_offset)
        log.info("%s truncated to offset %d", self.directory.name, self.log_end_offset)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop every segment and begin empty at `offset` (a follower far behind a leader
        whose log now starts later)."""
        for seg in self.segments:
            seg.delete()
        self._make_dir()
        self.segments = [Segment.create(self.directory, offset,
                                        self.config.index_interval_bytes, self.disk,
                                        file_now=True)]  # its name holds `offset` (roll)
        self._corrupt_from = None
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
            cleaned = cleaned_dir / f"{stem}{suffix}"
            if suffix == ".log" or cleaned.exists():  # a copy left with no batch: no index
                os.replace(cleaned, self.directory / f"{stem}{suffix}")
        seg = Segment.open_trusted(self.directory, old.base_offset,
                                   self.config.index_interval_bytes, self.disk)
        self.segments[i] = seg
        return seg

    # -- closing ------------------------------------------------------------------------

    def flush(self) -> None:
        self.active.flush()
        self.epochs.flush()

    def close(self) -> None:
        """Clean shutdown: flush, close, and leave the marker that lets the next open
        trust the producer state saved with it. Closes the files even if a write fails."""
        try:
            self.flush()
        finally:
            self._close_files()
        if self._dir_made:  # else never written: nothing to mark for the next open to trust
            self.disk.touch(self.directory / CLEAN_SHUTDOWN_FILE)

    def close_unclean(self) -> None:
        """Let go of the files as a crash would (a storage error took the replica
        offline): no flush, no marker, so the next open treats it as a crash."""
        self._close_files()

    def _close_files(self) -> None:
        for seg in self.segments:
            seg.close()

    def delete(self) -> None:
        self._close_files()
        shutil.rmtree(self.directory, ignore_errors=True)

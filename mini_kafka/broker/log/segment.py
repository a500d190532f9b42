"""One log segment: `<base offset, 20 digits>.log` with its `.index` and `.timeindex`.

Batches are appended whole, with one write each; reads are positional (pread) so readers
never disturb the writer. The segment knows its next offset, size and largest timestamp;
`recover` re-validates every batch by CRC and cuts the file at the first bad one. A
segment is `verified` when every batch in it was CRC-checked by this process (written
by it, or validated when opened); the log checks what it serves from the others.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from pathlib import Path

from crc32c import crc32c

from mini_kafka import records
from mini_kafka.broker.log.disk import Disk
from mini_kafka.broker.log.index import OffsetIndex, StaleIndexError, TimeIndex
from mini_kafka.records import BatchHeader, CorruptRecordError

log = logging.getLogger("mini_kafka.broker.log")

READ_CHUNK_BYTES = 64 * 1024
CHECK_CHUNK_BYTES = 1024 * 1024
# batchLength at 8, magic at 16, crc at 17: all a CRC pass needs of a header.
_LENGTH_MAGIC_CRC = struct.Struct(">ixxxxbI")


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


class CorruptSegmentError(RuntimeError):
    """Corruption where it must not be (an old, flushed segment): refuse to guess."""


class Segment:
    def __init__(self, directory: Path, base_offset: int, index_interval_bytes: int,
                 disk: Disk, *, file_made: bool = True):
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.disk = disk
        self.verified = True  # cleared by open_trusted
        stem = directory / segment_name(base_offset)
        self.path = stem.with_suffix(".log")
        self.index = OffsetIndex(stem.with_suffix(".index"), disk)
        self.time_index = TimeIndex(stem.with_suffix(".timeindex"), disk)
        if file_made:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            self.size = os.fstat(self._fd).st_size
        else:  # made by the first append (see create)
            self._fd, self.size = -1, 0
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.first_batch_timestamp: int | None = None  # for rolling by age (segment_ms)
        self._bytes_since_index = 0

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, base_offset: int, index_interval_bytes: int,
               disk: Disk, *, file_now: bool = False) -> Segment:
        """A new, empty segment. Its file is made by its first batch (or now, with
        `file_now`, which every segment but a new log's first at offset 0 needs: the
        base offset is in the file's name): a replica never written, as most of a topic
        of many partitions on a quiet cluster are, costs no file and no descriptor.
        Making a file is an inode allocation, and on this host's ext4 that cost 0.1-1.7
        ms of kernel time each: 3000 new replicas (1000 partitions, RF=3) made seconds
        of it at once."""
        disk.check(directory / f"{segment_name(base_offset)}.log")
        seg = cls(directory, base_offset, index_interval_bytes, disk, file_made=file_now)
        assert seg.size == 0, f"{seg.path} already exists"
        seg.index.reset()
        seg.time_index.reset()
        return seg

    @classmethod
    def open_trusted(cls, directory: Path, base_offset: int, index_interval_bytes: int,
                     disk: Disk) -> Segment:
        """Open a segment validated at an earlier start: trust its indexes, scan only the
        tail past the last index entry. Raises CorruptSegmentError if what it reads
        does not hold together."""
        seg = cls(directory, base_offset, index_interval_bytes, disk)
        if seg.size == 0:
            # Nothing to index: a segment with no batch has no index files (index.py),
            # and whatever a crash left in one is stale.
            seg.index.reset()
            seg.time_index.reset()
            return seg
        seg.verified = False
        try:
            no_entry_due = seg.size < index_interval_bytes  # then no index file either
            seg.index.load(missing_ok=no_entry_due)
            seg.time_index.load(missing_ok=no_entry_due)
            if seg.index.last_position() > seg.size:
                raise StaleIndexError("index points past the end of the log")
        except StaleIndexError as e:
            log.warning("%s: %s; rebuilding it", seg.path.name, e)
            seg._rebuild(strict=True)
            seg.verified = True
            return seg
        seg.max_timestamp = seg.time_index.max_timestamp() or -1
        try:
            for _, header in seg._scan(seg.index.last_position(), validate=False):
                seg._note_batch(header)
            if seg.size:
                seg.first_batch_timestamp = seg._header_at(0).max_timestamp
        except CorruptRecordError as e:
            raise CorruptSegmentError(f"{seg.path}: {e}") from e
        seg._bytes_since_index = seg.size - seg.index.last_position()
        return seg

    @classmethod
    def open_checked(cls, directory: Path, base_offset: int, index_interval_bytes: int,
                     disk: Disk) -> tuple[Segment, int]:
        """Open a segment closed cleanly: trust its indexes but CRC-check every batch, in
        one tight pass that rebuilds nothing, and cut at the first bad one. Returns
        (segment, bytes cut)."""
        try:
            seg = cls.open_trusted(directory, base_offset, index_interval_bytes, disk)
        except CorruptSegmentError as e:
            log.warning("%s; validating it batch by batch", e)
            return cls.recover(directory, base_offset, index_interval_bytes, disk)
        seg.verified = True
        bad = seg._first_bad_position()
        if bad is None:
            return seg, 0
        cut = seg.size - bad
        log.warning("%s: torn or corrupt batch at position %d; truncating %d byte(s)",
                    seg.path.name, bad, cut)
        os.ftruncate(seg._fd, bad)
        seg.size = bad
        seg.index.truncate_to_position(bad)
        seg._rescan_tail()
        seg.time_index.truncate_to_relative_offset(seg.next_offset - seg.base_offset)
        return seg, cut

    def _first_bad_position(self) -> int | None:
        """Where the first torn or corrupt batch starts, or None. No header objects: a
        clean start reads every active segment, so this pass is what it costs."""
        pos, size = 0, self.size
        while pos < size:
            chunk = os.pread(self._fd, CHECK_CHUNK_BYTES, pos)
            view, n, off = memoryview(chunk), len(chunk), 0
            while n - off >= records.HEADER_BYTES:
                length, magic, crc = _LENGTH_MAGIC_CRC.unpack_from(chunk, off + 8)
                end = off + records.LOG_OVERHEAD + length
                if length < records.BATCH_BYTES_MIN or magic != records.MAGIC or \
                        pos + end > size:
                    return pos + off
                if end > n:
                    break
                if crc32c(view[off + records.CRC_START:end]) != crc:
                    return pos + off
                off = end
            if off == 0:  # a torn header at the end, or one batch larger than the chunk
                if n < records.HEADER_BYTES:
                    return pos
                try:
                    whole = os.pread(self._fd, records.LOG_OVERHEAD + length, pos)
                    off = records.validate_batch(whole).size
                except CorruptRecordError:
                    return pos
            pos += off
        return None

    @classmethod
    def recover(cls, directory: Path, base_offset: int, index_interval_bytes: int,
                disk: Disk) -> tuple[Segment, int]:
        """Open what no earlier start has validated: validate every batch, rebuild the
        indexes, and cut the file at the first torn or corrupt batch. Returns (segment,
        bytes cut)."""
        seg = cls(directory, base_offset, index_interval_bytes, disk)
        cut = seg._rebuild(strict=False)
        return seg, cut

    def _rebuild(self, strict: bool) -> int:
        self.index.reset()
        self.time_index.reset()
        self.next_offset, self.max_timestamp = self.base_offset, -1
        self.first_batch_timestamp = None
        self._bytes_since_index = 0
        valid_end = 0
        problem = None
        try:
            for pos, header in self._scan(0, validate=True):
                if header.base_offset < self.next_offset:
                    problem = f"offset {header.base_offset} goes backwards at position {pos}"
                    break
                self._index_batch(header, pos)
                valid_end = pos + header.size
        except CorruptRecordError as e:
            problem = str(e)
        if valid_end < self.size and problem is None:
            problem = f"torn batch at position {valid_end}"
        if problem is None:
            return 0
        if strict:
            raise CorruptSegmentError(f"{self.path}: {problem}")
        cut = self.size - valid_end
        log.warning("%s: %s; truncating %d byte(s) at position %d", self.path.name, problem,
                    cut, valid_end)
        os.ftruncate(self._fd, valid_end)
        self.size = valid_end
        return cut

    def _scan(self, start: int, validate: bool):
        """(position, header) of each batch from `start`, reading in chunks. With
        `validate`, CRC-checks each batch and raises CorruptRecordError at a bad one."""
        pos = start
        while pos < self.size:
            chunk = os.pread(self._fd, max(READ_CHUNK_BYTES, records.HEADER_BYTES), pos)
            header = records.peek_header(chunk)
            if header.batch_length < records.BATCH_BYTES_MIN or pos + header.size > self.size:
                raise CorruptRecordError(f"torn batch at position {pos}")
            if header.size > len(chunk):
                chunk = os.pread(self._fd, header.size, pos)
            consumed = 0
            for off, h in records.iter_headers(chunk):
                if validate:
                    records.validate_batch(chunk, off)
                yield pos + off, h
                consumed = off + h.size
            pos += consumed

    def _header_at(self, position: int) -> BatchHeader:
        return records.peek_header(os.pread(self._fd, records.HEADER_BYTES, position))

    # -- writing ------------------------------------------------------------------------

    def append(self, parts: list, header: BatchHeader) -> None:
        """Append one batch given as byte parts (a stamped prefix and the original body);
        `header` carries the stamped offsets."""
        assert header.base_offset >= self.next_offset, \
            f"offset {header.base_offset} below segment next offset {self.next_offset}"
        position = self.size
        if self._fd < 0:
            self._make_file()
        written = self.disk.writev(self._fd, parts, self.path)
        if written != header.size:  # a disk that filled up mid-write: take it back
            os.ftruncate(self._fd, position)
            raise OSError(errno.ENOSPC, f"short write: {written} of {header.size} bytes",
                          str(self.path))
        self.size += written
        self._index_batch(header, position)

    def _make_file(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(fd).st_size:
            os.close(fd)
            raise FileExistsError(errno.EEXIST, "a new segment's file already holds data",
                                  str(self.path))
        self._fd = fd

    def _index_batch(self, header: BatchHeader, position: int) -> None:
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = header.max_timestamp
        self._note_batch(header)
        self._bytes_since_index += header.size
        # As Kafka's: an entry once index_interval_bytes have gone by, none for the first
        # batch (a lookup below every entry scans from position 0 anyway). A segment
        # smaller than that has no index files, which a new replica's first batches
        # then do not make: two inode allocations fewer each (see create).
        if self._bytes_since_index >= self.index_interval_bytes:
            relative = header.base_offset - self.base_offset
            self.index.append(relative, position)
            self.time_index.append(self.max_timestamp, relative)
            self._bytes_since_index = 0

    def _note_batch(self, header: BatchHeader) -> None:
        self.next_offset = header.next_offset
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp

    # -- reading ------------------------------------------------------------------------

    def position_of(self, offset: int) -> int | None:
        """File position of the first batch whose last offset is >= `offset`."""
        pos = self.index.floor_position(max(0, offset - self.base_offset))
        for p, header in self._scan(pos, validate=False):
            if header.last_offset >= offset:
                return p
        return None

    def read(self, position: int, max_bytes: int, upto_offset: int | None) -> bytes:
        """Whole batches from `position`: at least one batch (even one larger than
        max_bytes, so a consumer always progresses), then more while they fit, stopping
        before any batch at or past `upto_offset`."""
        data = os.pread(self._fd, max(max_bytes, records.HEADER_BYTES), position)
        end = 0
        for off, header in records.iter_headers(data):
            if upto_offset is not None and header.base_offset >= upto_offset:
                break
            end = off + header.size
        if end == 0 and len(data) >= records.HEADER_BYTES:
            first = records.peek_header(data)
            if upto_offset is None or first.base_offset < upto_offset:
                return os.pread(self._fd, first.size, position)  # one batch past max_bytes
        return data[:end]

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """The first offset in this segment whose record timestamp is >= `timestamp`."""
        if self.max_timestamp < timestamp:
            return None
        start = self.base_offset + self.time_index.floor_relative_offset(timestamp)
        pos = self.position_of(start) or 0
        for p, header in self._scan(pos, validate=False):
            if header.max_timestamp >= timestamp:
                data = os.pread(self._fd, header.size, p)
                for record in records.decode_batch(data, verify_crc=False)[1]:
                    if record.timestamp >= timestamp:
                        return record.offset
        return None

    def headers(self):
        """(position, header) of every batch."""
        return self._scan(0, validate=False)

    def batches(self):
        """(header, bytes) of every batch, for compaction."""
        for pos, header in self._scan(0, validate=False):
            yield header, os.pread(self._fd, header.size, pos)

    # -- cutting ------------------------------------------------------------------------

    def truncate_to(self, offset: int) -> None:
        """Remove every batch whose last offset is >= `offset` (a batch straddling it goes
        whole, as in Kafka). Log truncation for replica divergence only."""
        position = self.position_of(offset)
        if position is None:
            return
        cut_base_offset = self._header_at(position).base_offset
        os.ftruncate(self._fd, position)
        self.size = position
        self.index.truncate_to_position(position)
        self.time_index.truncate_to_relative_offset(cut_base_offset - self.base_offset)
        self._rescan_tail()

    def _rescan_tail(self) -> None:
        self.next_offset, self.max_timestamp = self.base_offset, -1
        self.first_batch_timestamp = None
        for _, header in self._scan(0, validate=False):
            if self.first_batch_timestamp is None:
                self.first_batch_timestamp = header.max_timestamp
            self._note_batch(header)
        self._bytes_since_index = self.size - self.index.last_position()

    def flush(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
        self.index.flush()
        self.time_index.flush()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.index.close()
        self.time_index.close()

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
        self.index.delete()
        self.time_index.delete()

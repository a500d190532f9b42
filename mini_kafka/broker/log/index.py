"""Sparse segment indexes in Kafka's file layout.

`.index`: 8-byte entries, relative offset (uint32) -> file position (uint32).
`.timeindex`: 12-byte entries, timestamp (int64) -> relative offset (uint32).

Entries live in memory (arrays, searched with bisect) and are appended to the file as
they are made. A file whose size is not a whole number of entries, or whose entries do
not rise, is treated as stale and rebuilt from the log by the segment. An index is never
worth failing an append for: if its file cannot be written (a full disk), the file is
dropped and the index lives on in memory until the next open rebuilds it.

An index with no entries needs no file: the file is made with the first entry (once a
segment holds index_interval_bytes), as Kafka's lazy indexes make theirs. A new
replica's first batches then make no index file: a 1000-partition RF=3 topic is 3000
new replicas on one host, and on this host's ext4 (no journal) each new inode cost up
to 0.7 ms of kernel time once the file system had recently deleted many
(`recently_deleted` in its inode allocator: half of all CPU while such a topic was
created).
"""

from __future__ import annotations

import logging
import os
import struct
from array import array
from bisect import bisect_right
from pathlib import Path

from mini_kafka.broker.log.disk import Disk

log = logging.getLogger("mini_kafka.broker.log")

OFFSET_ENTRY = struct.Struct(">II")
TIME_ENTRY = struct.Struct(">qI")


class StaleIndexError(ValueError):
    """An index file that does not match its log and must be rebuilt."""


class _IndexFile:
    entry: struct.Struct

    def __init__(self, path: Path, disk: Disk):
        self.path = path
        self.disk = disk
        self._fd: int | None = None
        self.dropped = False  # its file could not be written: memory only until reopened

    def _append_bytes(self, data: bytes) -> None:
        if self.dropped:
            return
        try:
            if self._fd is None:
                self.disk.check(self.path)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if self.disk.write(self._fd, data, self.path) != len(data):
                raise OSError(f"short write to {self.path.name}")
        except OSError as e:
            self._drop(e)

    def _drop(self, error: OSError) -> None:
        log.warning("%s: cannot be written (%s); dropped, to be rebuilt from the log",
                    self.path.name, error)
        self.dropped = True
        self.close()
        self.path.unlink(missing_ok=True)

    def _read_entries(self, missing_ok: bool) -> list[tuple]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return []
            raise StaleIndexError(f"{self.path.name} is missing") from None
        if len(data) % self.entry.size:
            raise StaleIndexError(f"{self.path.name} has a partial entry")
        return list(self.entry.iter_unpack(data))

    def _rewrite(self, data: bytes) -> None:
        self.close()
        if self.dropped:
            return
        try:
            if data:
                self.disk.write_file(self.path, data)
            else:  # emptied in place (truncation is atomic), or left absent
                self.disk.empty_if_present(self.path)
        except OSError as e:
            self._drop(e)

    def flush(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class OffsetIndex(_IndexFile):
    entry = OFFSET_ENTRY

    def __init__(self, path: Path, disk: Disk):
        super().__init__(path, disk)
        self.relative_offsets = array("I")
        self.positions = array("I")

    def load(self, missing_ok: bool = False) -> None:
        """`missing_ok`: no entry was due yet, so no file is as good as an empty one."""
        entries = self._read_entries(missing_ok)
        rel = array("I", (e[0] for e in entries))
        pos = array("I", (e[1] for e in entries))
        if any(rel[i] >= rel[i + 1] or pos[i] >= pos[i + 1] for i in range(len(rel) - 1)):
            raise StaleIndexError(f"{self.path.name} entries do not rise")
        self.relative_offsets, self.positions = rel, pos

    def append(self, relative_offset: int, position: int) -> None:
        if self.relative_offsets and relative_offset <= self.relative_offsets[-1]:
            return  # sparse index: only rising entries
        self.relative_offsets.append(relative_offset)
        self.positions.append(position)
        self._append_bytes(OFFSET_ENTRY.pack(relative_offset, position))

    def floor_position(self, relative_offset: int) -> int:
        """Position of the last indexed batch at or before `relative_offset` (0 if none)."""
        i = bisect_right(self.relative_offsets, relative_offset)
        return self.positions[i - 1] if i else 0

    def last_position(self) -> int:
        return self.positions[-1] if self.positions else 0

    def truncate_to_position(self, position: int) -> None:
        """Drop entries pointing at or past `position` (the log was cut there)."""
        keep = bisect_right(self.positions, position - 1) if position else 0
        if keep == len(self.positions):
            return
        del self.relative_offsets[keep:]
        del self.positions[keep:]
        self._rewrite(b"".join(OFFSET_ENTRY.pack(r, p) for r, p in
                               zip(self.relative_offsets, self.positions, strict=True)))

    def reset(self) -> None:
        self.relative_offsets, self.positions = array("I"), array("I")
        self._rewrite(b"")


class TimeIndex(_IndexFile):
    entry = TIME_ENTRY

    def __init__(self, path: Path, disk: Disk):
        super().__init__(path, disk)
        self.timestamps: list[int] = []
        self.relative_offsets = array("I")

    def load(self, missing_ok: bool = False) -> None:
        entries = self._read_entries(missing_ok)
        ts = [e[0] for e in entries]
        rel = array("I", (e[1] for e in entries))
        if any(ts[i] >= ts[i + 1] or rel[i] > rel[i + 1] for i in range(len(ts) - 1)):
            raise StaleIndexError(f"{self.path.name} entries do not rise")
        self.timestamps, self.relative_offsets = ts, rel

    def append(self, timestamp: int, relative_offset: int) -> None:
        if self.timestamps and timestamp <= self.timestamps[-1]:
            return  # only rising timestamps are worth an entry
        self.timestamps.append(timestamp)
        self.relative_offsets.append(relative_offset)
        self._append_bytes(TIME_ENTRY.pack(timestamp, relative_offset))

    def floor_relative_offset(self, timestamp: int) -> int:
        """Relative offset of the last entry whose timestamp is below `timestamp`: every
        record at or after the target time sits at or after it (0 if none)."""
        i = bisect_right(self.timestamps, timestamp - 1)
        return self.relative_offsets[i - 1] if i else 0

    def max_timestamp(self) -> int | None:
        return self.timestamps[-1] if self.timestamps else None

    def truncate_to_relative_offset(self, relative_offset: int) -> None:
        keep = bisect_right(self.relative_offsets, relative_offset - 1) if relative_offset else 0
        if keep == len(self.timestamps):
            return
        del self.timestamps[keep:]
        del self.relative_offsets[keep:]
        self._rewrite(b"".join(TIME_ENTRY.pack(t, r) for t, r in
                               zip(self.timestamps, self.relative_offsets, strict=True)))

    def reset(self) -> None:
        self.timestamps, self.relative_offsets = [], array("I")
        self._rewrite(b"")

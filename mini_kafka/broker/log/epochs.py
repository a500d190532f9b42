"""The leader-epoch cache and its `leader-epoch-checkpoint` file (KIP-101, KIP-279).

An ordered list of (leader epoch, start offset): the first offset written in each epoch.
A follower asks the leader for the end offset of its latest epoch and truncates what
lies beyond it, instead of trusting its own high watermark. The cache must always agree
with the log: truncating the log truncates the cache, and retention trims its start.

File format (Kafka's): a version line "0", a count line, then "epoch offset" lines.

The file is made in place by its first write (a torn one reads as corrupt, and the log
rebuilds it from its batches) and replaced atomically at every later change, but synced
with the log's segments (`flush`, called when a segment is flushed), not at each change
as Kafka's `assign` does: Kafka's brokers each have their disks, ours share one, and a
hundred brokers creating a 1000-partition topic queued a thousand fsyncs on one
journal, each holding its broker's event loop (no heartbeats for seconds: the
controller fenced them all).
A process that dies keeps what it wrote (the page cache); what a host crash can lose
is newer than the last flushed segment, as the log's own unflushed tail is.
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path

from mini_kafka.broker.log.disk import Disk

CHECKPOINT_FILE = "leader-epoch-checkpoint"
UNDEFINED = -1


class CorruptCheckpointError(ValueError):
    """The checkpoint file does not parse: the log rebuilds it from its batches."""


class LeaderEpochCache:
    def __init__(self, directory: Path, disk: Disk | None = None, read: bool = True):
        """`read=False`: a new log's, with no file to read yet."""
        self.path = directory / CHECKPOINT_FILE
        self.disk = disk or Disk()
        self._file_made = False  # until then it is written in place (see _set)
        self.entries: list[tuple[int, int]] = self._read() if read else []
        self._unsynced = False

    def _read(self) -> list[tuple[int, int]]:
        try:
            lines = self.path.read_text().split("\n")
        except FileNotFoundError:
            return []
        self._file_made = True
        try:
            version, count = int(lines[0]), int(lines[1])
            entries = [tuple(map(int, line.split())) for line in lines[2:2 + count]]
        except (ValueError, IndexError) as e:
            raise CorruptCheckpointError(f"{self.path} is unreadable: {e}") from e
        if version != 0 or len(entries) != count or any(len(e) != 2 for e in entries):
            raise CorruptCheckpointError(f"{self.path} is malformed")
        return [(e[0], e[1]) for e in entries]

    def _set(self, entries: list[tuple[int, int]]) -> None:
        """The file first, then memory: a write that fails (a full disk) changes neither."""
        lines = "".join(f"{e} {o}\n" for e, o in entries)
        data = f"0\n{len(entries)}\n{lines}".encode()
        # The first write makes the file in place, one inode fewer: a torn one reads as
        # corrupt (too few lines or fields), and the log rebuilds it from its batches.
        if self._file_made:
            self.disk.write_file(self.path, data)
        else:
            self.disk.write_new_file(self.path, data)
            self._file_made = True
        self.entries = entries
        self._unsynced = True

    def flush(self) -> None:
        """Make the file as it is now durable (with the segment being flushed)."""
        if self._unsynced:
            self.disk.sync_file(self.path)
            self._unsynced = False

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else UNDEFINED

    @property
    def first_start_offset(self) -> int:
        return self.entries[0][1] if self.entries else UNDEFINED

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that `epoch` began at `start_offset` (no-op if it already has). An epoch
        that began at the same offset wrote nothing: the new one supersedes it, as in
        Kafka, so the cache never holds two epochs starting at one offset."""
        if epoch < 0 or (self.entries and epoch <= self.entries[-1][0]):
            return
        kept = [(e, o) for e, o in self.entries if o < start_offset]
        assert all(o == start_offset for _, o in self.entries[len(kept):]), \
            f"epoch {epoch} starts at {start_offset}, before epoch {self.entries[-1]}"
        self._set(kept + [(epoch, start_offset)])

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(largest epoch <= `epoch`, the offset where it ended): the start offset of the
        next epoch, or the log end offset for the latest. (UNDEFINED, UNDEFINED) when
        `epoch` precedes everything we know."""
        i = bisect_right([e for e, _ in self.entries], epoch)
        if i == 0:
            return UNDEFINED, UNDEFINED
        found = self.entries[i - 1][0]
        end = self.entries[i][1] if i < len(self.entries) else log_end_offset
        return found, end

    def epoch_at(self, offset: int) -> int:
        """The leader epoch that wrote `offset` (UNDEFINED before every known epoch)."""
        i = bisect_right([o for _, o in self.entries], offset)
        return self.entries[i - 1][0] if i else UNDEFINED

    def truncate_from_end(self, end_offset: int) -> None:
        """The log now ends at `end_offset`: forget epochs that started at or after it."""
        kept = [(e, o) for e, o in self.entries if o < end_offset]
        if kept != self.entries:
            self._set(kept)

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at `start_offset`: the epoch in force there starts there."""
        older = [(e, o) for e, o in self.entries if o <= start_offset]
        newer = [(e, o) for e, o in self.entries if o > start_offset]
        kept = ([(older[-1][0], start_offset)] if older else []) + newer
        if kept != self.entries:
            self._set(kept)

    def clear(self) -> None:
        self._set([])

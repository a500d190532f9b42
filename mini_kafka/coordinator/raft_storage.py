"""Durable Raft state for a coordinator, under logs/coordinator-N/raft/.

    hardstate   {"term", "voted_for"}            replaced atomically (tmp, fsync, rename)
    snapshot    {"index", "term", "data"}         replaced atomically
    log         records: u32 length | u32 CRC-32C | JSON [term, index, data]

Each Ready is written and synced before its messages are sent (`persist`, or `write` for
several then one `sync`: coordinator/raft_writer.py): a vote or an acknowledged entry is
on disk before anyone hears of it. On open, a
torn or corrupt last record (a crash mid-write) is detected by length and CRC, cut off
and never applied.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path
from typing import Any

from crc32c import crc32c

from mini_kafka.raft.messages import Entry, Ready, Snapshot

log = logging.getLogger("mini_kafka.coordinator.raft_storage")
RECORD_HEADER = struct.Struct(">II")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a crash
    finally:
        os.close(dir_fd)


def _encode_record(entry: Entry) -> bytes:
    payload = json.dumps([entry.term, entry.index, entry.data], separators=(",", ":")).encode()
    return RECORD_HEADER.pack(len(payload), crc32c(payload)) + payload


class RaftStorage:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.term, self.voted_for = self._read_hard_state()
        self.snapshot = self._read_snapshot()
        self.entries: list[Entry] = []
        self._positions: list[int] = []  # file position of each entry in self.entries
        self._log_path = self.directory / "log"
        self._load_log()
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._unsynced = False  # entries written since the last fsync

    # -- loading --------------------------------------------------------------------------

    def _read_hard_state(self) -> tuple[int, int | None]:
        try:
            state = json.loads((self.directory / "hardstate").read_text())
            return state["term"], state["voted_for"]
        except FileNotFoundError:
            return 0, None

    def _read_snapshot(self) -> Snapshot:
        try:
            snap = json.loads((self.directory / "snapshot").read_text())
            return Snapshot(snap["index"], snap["term"], snap["data"])
        except FileNotFoundError:
            return Snapshot(0, 0, None)

    def _load_log(self) -> None:
        try:
            data = self._log_path.read_bytes()
        except FileNotFoundError:
            return
        pos = 0
        valid_end = 0
        while pos + RECORD_HEADER.size <= len(data):
            length, crc = RECORD_HEADER.unpack_from(data, pos)
            payload = data[pos + RECORD_HEADER.size:pos + RECORD_HEADER.size + length]
            if len(payload) < length or crc32c(payload) != crc:
                break
            term, index, entry_data = json.loads(payload)
            if index > self.snapshot.index:
                expected = (self.entries[-1].index + 1) if self.entries else \
                    self.snapshot.index + 1
                if index != expected:
                    break  # a gap cannot be followed: treat the rest as torn
                self.entries.append(Entry(term, index, entry_data))
                self._positions.append(pos)
            pos += RECORD_HEADER.size + length
            valid_end = pos
        if valid_end < len(data):
            log.warning("raft log: dropping %d byte(s) of torn or corrupt tail at %d",
                        len(data) - valid_end, valid_end)
            os.truncate(self._log_path, valid_end)

    # -- persisting -----------------------------------------------------------------------

    def persist(self, rd: Ready) -> None:
        self.write(rd)
        self.sync()

    def needs_disk(self, rd: Ready) -> bool:
        return bool(rd.snapshot is not None or rd.truncate_from is not None or rd.entries
                    or rd.hard_state is not None)

    def sync(self) -> None:
        """Make every entry written so far durable (one fsync for any number of writes)."""
        if self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False

    def write(self, rd: Ready) -> None:
        """Write what `rd` asks to keep; entries are durable only after `sync` (hard state
        and snapshots are replaced atomically, durable at once)."""
        if rd.snapshot is not None:
            self.save_snapshot(rd.snapshot)
        if rd.truncate_from is not None:
            self._truncate_from(rd.truncate_from)
        if rd.entries:
            records = []
            pos = os.fstat(self._fd).st_size
            for entry in rd.entries:
                record = _encode_record(entry)
                self.entries.append(entry)
                self._positions.append(pos)
                pos += len(record)
                records.append(record)
            os.write(self._fd, b"".join(records))
            self._unsynced = True
        if rd.hard_state is not None:
            self.term, self.voted_for = rd.hard_state
            _write_atomically(self.directory / "hardstate",
                              json.dumps({"term": self.term, "voted_for": self.voted_for}).encode())

    def _truncate_from(self, index: int) -> None:
        keep = index - self.first_index
        if keep < 0 or keep >= len(self.entries):
            return
        os.ftruncate(self._fd, self._positions[keep])
        del self.entries[keep:]
        del self._positions[keep:]

    @property
    def first_index(self) -> int:
        return self.snapshot.index + 1

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Persist a snapshot, then rewrite the log without the entries it covers."""
        _write_atomically(self.directory / "snapshot", json.dumps(
            {"index": snapshot.index, "term": snapshot.term, "data": snapshot.data}).encode())
        self.snapshot = snapshot
        kept = [e for e in self.entries if e.index > snapshot.index]
        if kept and kept[0].index != snapshot.index + 1:
            kept = []
        records = [_encode_record(e) for e in kept]
        os.close(self._fd)
        _write_atomically(self._log_path, b"".join(records))
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND)
        self._unsynced = False  # the rewritten log was synced whole
        self.entries = kept
        self._positions = []
        pos = 0
        for record in records:
            self._positions.append(pos)
            pos += len(record)

    def close(self) -> None:
        os.close(self._fd)

    def describe(self) -> dict[str, Any]:
        return {"term": self.term, "voted_for": self.voted_for,
                "snapshot_index": self.snapshot.index, "entries": len(self.entries)}

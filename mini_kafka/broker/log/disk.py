"""The log layer's file-system seam: every write to a partition's directory goes
through a Disk.

In production it writes. With `full` set it refuses every write with ENOSPC before
writing anything, as a full disk would: that is how tests and `mini-kafka chaos
disk-full` fill a broker's disk without filling the machine's. Reads, deletes and
truncations never need space and are not refused, so a full disk can still be emptied.
A real full disk fails the same calls with the same OSError.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

PROBE_BYTES = 4096
PROBE_FILE = ".write-probe"
# Left in a node's directory by `mini-kafka chaos disk-full`: a full disk stays full when
# its broker restarts, until the fault is cleared.
INJECTED_FULL_MARKER = ".chaos-disk-full"


class Disk:
    def __init__(self, full: bool = False):
        self.full = full

    def check(self, path) -> None:
        """Raise what writing to `path` on a full disk raises, if the disk is full."""
        if self.full:
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected)", str(path))

    def writev(self, fd: int, parts: list, path) -> int:
        self.check(path)
        return os.writev(fd, parts)

    def write(self, fd: int, data: bytes, path) -> int:
        self.check(path)
        return os.write(fd, data)

    def write_file(self, path: Path, data: bytes, fsync: bool = False) -> None:
        """Replace `path` with `data` atomically: a failed or torn write leaves the old
        file (or none), never half of the new one."""
        self.check(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def write_new_file(self, path: Path, data: bytes) -> None:
        """Write `path`, which does not exist yet, in place: one inode allocation where
        write_file makes two (its temporary file, then the rename), which a new
        replica's first batch pays for each of its small files. A crash mid-write
        leaves a prefix of `data`, so readers must take a prefix for no file or for a
        corrupt one, never for another value. A file there after all is replaced as
        write_file does."""
        self.check(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            self.write_file(path, data)
            return
        try:
            try:
                written = os.write(fd, data)
            finally:
                os.close(fd)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"short write: {written} of {len(data)} bytes",
                              str(path))
        except OSError:
            path.unlink(missing_ok=True)
            raise

    def empty_if_present(self, path: Path) -> None:
        """Truncate `path` to nothing if it exists (atomic, no temporary file); a missing
        file stays missing, and no file is created."""
        try:
            os.truncate(path, 0)
        except FileNotFoundError:
            pass

    def sync_file(self, path: Path) -> None:
        self.check(path)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def mkdir(self, path: Path) -> None:
        if not path.is_dir():
            self.check(path)
            path.mkdir(parents=True, exist_ok=True)

    def touch(self, path: Path) -> None:
        self.check(path)
        path.touch()

    def probe(self, directory: Path) -> None:
        """Write, sync and remove a small file: raises OSError while writes would fail."""
        path = directory / PROBE_FILE
        self.check(path)
        try:
            with open(path, "wb") as f:
                f.write(bytes(PROBE_BYTES))
                f.flush()
                os.fsync(f.fileno())
        finally:
            path.unlink(missing_ok=True)

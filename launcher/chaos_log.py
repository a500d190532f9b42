"""<data_dir>/chaos-events.jsonl: every fault injected through launcher.Cluster — from the
CLI, a chaos run, a test or the web console — one JSON line each, so the console can put
all of them on its timeline, whoever injected them.

    {"at_ms": 1700000000000, "op": "kill", "nodes": ["broker-2"], "by": "mini-kafka (pid 4242)",
     "signal": "SIGKILL"}

Writers only append (one write per line, so lines from two processes never interleave);
past a size bound the file is rotated, one old file kept. A reader follows the file from
where it left off and notices a rotation.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("launcher.chaos_log")

CHAOS_LOG_FILE = "chaos-events.jsonl"


def default_actor() -> str:
    return f"{Path(sys.argv[0]).name or 'python'} (pid {os.getpid()})"


def record(data_dir: Path, op: str, nodes: list[str], *, by: str, at_ms: int | None = None,
           bytes_max: int, **details: Any) -> None:
    """Append one event. Never fails the fault it records: an unwritable log is logged."""
    path = Path(data_dir) / CHAOS_LOG_FILE
    event = {"at_ms": int(time.time() * 1000) if at_ms is None else at_ms, "op": op,
             "nodes": list(nodes), "by": by, **details}
    line = (json.dumps(event, sort_keys=True) + "\n").encode()
    try:
        if path.exists() and path.stat().st_size + len(line) > bytes_max:
            os.replace(path, path.with_name(CHAOS_LOG_FILE + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as e:
        log.warning("could not record the %s fault in %s: %s", op, path, e)


class ChaosLogReader:
    """New events since the last read; the first read starts `tail_bytes` from the end."""

    def __init__(self, data_dir: Path, tail_bytes: int):
        self.path = Path(data_dir) / CHAOS_LOG_FILE
        self.tail_bytes = tail_bytes
        self._pos: int | None = None
        self._inode: int | None = None
        self.skipped_lines = 0  # lines that were not JSON events (a hand-edited file)

    def read_new(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._pos, self._inode = 0, None
            return []
        start = self._pos
        mid_line = False
        if start is None:
            start = max(0, st.st_size - self.tail_bytes)
            mid_line = start > 0
        elif st.st_ino != self._inode or st.st_size < start:
            start = 0  # rotated or truncated: a new file, read it whole
        self._inode = st.st_ino
        with open(self.path, "rb") as f:
            f.seek(start - 1 if mid_line else start)
            data = f.read()
        if mid_line:  # skip to just past the first newline at or after `start - 1`
            cut = data.find(b"\n") + 1
            if not cut:
                return []  # no line ends in the tail yet: try the tail again next time
            start, data = start - 1 + cut, data[cut:]
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        self._pos = start + end
        return [e for e in (self._parse(line) for line in data[:end].split(b"\n")[:-1])
                if e is not None]

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("at_ms"), int) \
                or not isinstance(event.get("op"), str):
            self.skipped_lines += 1
            return None
        return event

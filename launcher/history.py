"""A chaos run's history: every operation and fault as one JSON line, in order.

Many threads record at once (producers' acknowledgement callbacks, consumers, the
nemesis); a lock keeps each line whole and `t` (seconds since the run began, from the
injected clock) non-decreasing in file order.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class History:
    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.monotonic):
        self.events: list[dict[str, Any]] = []
        self._clock = clock
        self._began = clock()
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w")
        self.path = path

    def now(self) -> float:
        return self._clock() - self._began

    def record(self, type_: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            event = {"t": round(self.now(), 6), "type": type_, **fields}
            self.events.append(event)
            if self._file is not None:
                self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
            return event

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def load(path: Path) -> list[dict[str, Any]]:
    """A history file read back (for re-checking a run: `mini-kafka chaos check FILE`)."""
    events = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not a history event ({e.msg})") from None
    return events

"""Raft persistence off the event loop, in order, with group commit.

A coordinator shares its disk with every broker on the host. An fsync of the Raft log
then waits behind the brokers' own writes, seconds at 100 brokers, and on the event loop
that stall stopped the coordinator from reading anything: its followers stopped hearing
the leader and elected another, the terms churned and no metadata write went through.

Here each Ready that must reach the disk is written and synced on one thread of its
own; the loop goes on reading (the core takes new messages, brokers' heartbeats are
read) and only the Ready's effects wait: its messages are sent and its committed entries
applied after it is durable, and every later Ready's effects after its own, so Raft's
order (persist, send, apply) holds per Ready. Readys that queue while a sync runs are
written together and synced once. A Ready with nothing to persist, when nothing waits
ahead of it, takes effect at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from mini_kafka.coordinator.raft_storage import RaftStorage
from mini_kafka.raft.messages import Ready, Snapshot
from mini_kafka.supervisor import Supervisor


class RaftWriter:
    def __init__(self, storage: RaftStorage, take_effect: Callable[[Ready], None],
                 supervisor: Supervisor):
        self.storage = storage
        self._take_effect = take_effect
        self._supervisor = supervisor
        self._queue: list[Ready | Snapshot] = []  # waiting to be written, in order
        self._task: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="raft-persist")
        self.batches = 0  # syncs done: a Ready count above this is group commit at work

    def submit(self, rd: Ready) -> None:
        if self._task is None and not self._queue and not self.storage.needs_disk(rd):
            self._take_effect(rd)
            return
        self._enqueue(rd)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """A snapshot of applied state; written after every Ready queued before it."""
        self._enqueue(snapshot)

    @property
    def pending(self) -> int:
        return len(self._queue) + (self._task is not None)

    def _enqueue(self, item: Ready | Snapshot) -> None:
        self._queue.append(item)
        if self._task is None:
            self._task = self._supervisor.spawn(self._drain(), "persisting the Raft log")

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await loop.run_in_executor(self._thread, self._write, batch)
                self.batches += 1
                for item in batch:
                    if isinstance(item, Ready):
                        self._take_effect(item)  # may submit more: the loop takes them
        finally:
            self._task = None

    def _write(self, batch: list[Ready | Snapshot]) -> None:
        for item in batch:
            if isinstance(item, Snapshot):
                self.storage.save_snapshot(item)
            else:
                self.storage.write(item)
        self.storage.sync()

    def close(self) -> None:
        """Stop taking effects and let a write under way finish before the files close
        (a write cut off by closing its file would only be redone after restart)."""
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
        self._thread.shutdown(wait=True)

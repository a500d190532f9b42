"""What the producer accumulates and hands back: a batch of records for one partition,
and each record's future — a view onto its batch's outcome."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from dataclasses import dataclass

log = logging.getLogger("mini_kafka.client.producer")


@dataclass(frozen=True)
class RecordMetadata:
    topic: str
    partition: int
    offset: int  # -1 with acks=0: nobody said where it went
    timestamp: int


class FutureRecordMetadata:
    """One record's outcome: a view onto its batch (one real future per batch; one per
    record cost a quarter of send()). Callbacks wait in the batch's own list under a
    plain lock: registering one per record through concurrent.futures cost as much again."""

    __slots__ = ("_batch", "_index", "_timestamp")

    def __init__(self, batch: Batch, index: int, timestamp: int):
        self._batch, self._index, self._timestamp = batch, index, timestamp

    def result(self, timeout: float | None = None) -> RecordMetadata:
        base = self._batch.done.result(timeout)
        return RecordMetadata(self._batch.topic, self._batch.partition,
                              base + self._index if base >= 0 else -1, self._timestamp)

    get = result  # kafka-python's name

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self._batch.done.exception(timeout)

    def done(self) -> bool:
        return self._batch.done.done()

    def add_done_callback(self, fn) -> None:
        """fn(this future) once the record is acknowledged or failed; at once if it is."""
        batch = self._batch
        with batch.callbacks_lock:
            if batch.callbacks is not None:
                batch.callbacks.append((fn, self))
                return
        fn(self)


class Batch:
    __slots__ = ("topic", "partition", "records", "done", "size", "created_s", "encoded",
                 "base_sequence", "attempts", "retry_at_s", "callbacks", "callbacks_lock")

    def __init__(self, topic: str, partition: int, created_s: float):
        self.topic, self.partition = topic, partition
        self.records: list[tuple] = []
        self.done = concurrent.futures.Future()  # -> base offset, or the error
        self.size = 0
        self.created_s = created_s
        self.encoded: bytes | None = None
        self.base_sequence: int | None = None
        self.attempts = 0
        self.retry_at_s = 0.0
        self.callbacks: list | None = []  # None once they have run
        self.callbacks_lock = threading.Lock()
        self.done.add_done_callback(self._run_callbacks)

    def _run_callbacks(self, _future) -> None:
        with self.callbacks_lock:
            callbacks, self.callbacks = self.callbacks, None
        for fn, record_future in callbacks:
            try:
                fn(record_future)
            except Exception:  # as concurrent.futures does: one bad callback stops none
                log.exception("a send callback raised")

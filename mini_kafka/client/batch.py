"""What the producer accumulates and hands back: a batch of records for one partition,
and each record's future — a view onto its batch's outcome.

A batch keeps its records, and the callbacks waiting on them, column by column: a
tuple per record kept alive until its batch is acknowledged is an object the cyclic
garbage collector must traverse again and again, and those traversals cost a producer
under load a third of its throughput."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import NamedTuple

log = logging.getLogger("mini_kafka.client.producer")


class RecordMetadata(NamedTuple):  # kafka-python's is a namedtuple too
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
        batch = self._batch
        if not batch.finished:
            batch.done.result(timeout)  # waits; raises the batch's error or a timeout
        if batch.error is not None:
            raise batch.error
        base = batch.base_offset
        return RecordMetadata(batch.topic, batch.partition,
                              base + self._index if base >= 0 else -1, self._timestamp)

    get = result  # kafka-python's name

    def exception(self, timeout: float | None = None) -> BaseException | None:
        batch = self._batch
        # Read without the future's lock once finished: callbacks ask every record.
        return batch.error if batch.finished else batch.done.exception(timeout)

    def done(self) -> bool:
        return self._batch.finished

    def add_done_callback(self, fn) -> None:
        """fn(this future) once the record is acknowledged or failed; at once if it is."""
        batch = self._batch
        with batch.callbacks_lock:
            if batch.callback_fns is not None:
                batch.callback_fns.append(fn)
                batch.callback_indexes.append(self._index)
                return
        fn(self)


class Batch:
    __slots__ = ("topic", "partition", "keys", "values", "timestamps", "headers", "done",
                 "size", "created_s", "encoded", "base_sequence", "attempts", "retry_at_s",
                 "callback_fns", "callback_indexes", "callbacks_lock", "finished",
                 "base_offset", "error", "last_error")

    def __init__(self, topic: str, partition: int, created_s: float):
        self.topic, self.partition = topic, partition
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.timestamps: list[int] = []
        self.headers: list[list | None] = []
        self.done = concurrent.futures.Future()  # -> base offset, or the error
        self.finished = False  # set with base_offset or error, before `done` resolves
        self.base_offset = -1
        self.error: BaseException | None = None
        self.size = 0
        self.created_s = created_s
        self.encoded: bytes | None = None
        self.base_sequence: int | None = None
        self.attempts = 0
        self.retry_at_s = 0.0
        self.last_error: BaseException | None = None  # why it has not gone yet, if known
        self.callback_fns: list | None = []  # None once they have run
        # A callback's record by index, not by its future: a caller that drops the future
        # send() returned frees it at once instead of keeping it until the reply.
        self.callback_indexes: list[int] = []
        self.callbacks_lock = threading.Lock()
        self.done.add_done_callback(self._run_callbacks)

    def append(self, key, value, timestamp: int, headers, size: int) -> FutureRecordMetadata:
        future = FutureRecordMetadata(self, len(self.values), timestamp)
        self.keys.append(key)
        self.values.append(value)
        self.timestamps.append(timestamp)
        self.headers.append(headers)
        self.size += size
        return future

    def extend(self, keys: list, values: list, timestamp: int, size: int) -> int:
        """send_many()'s records, one timestamp and no headers: their first index."""
        start = len(self.values)
        count = len(values)
        self.keys += keys
        self.values += values
        self.timestamps += [timestamp] * count
        self.headers += [None] * count
        self.size += size
        return start

    def complete(self, base_offset: int) -> bool:
        """True if this finished the batch (False: it had already ended)."""
        with self.callbacks_lock:  # a reply and an expiry may race from two threads
            if self.finished:
                return False
            self.base_offset, self.finished = base_offset, True
        self.done.set_result(base_offset)
        return True

    def fail(self, error: BaseException) -> bool:
        """True if this finished the batch (False: it had already ended)."""
        with self.callbacks_lock:
            if self.finished:
                return False
            self.error, self.finished = error, True
        self.done.set_exception(error)
        return True

    def __len__(self) -> int:
        return len(self.values)

    def _run_callbacks(self, _future) -> None:
        with self.callbacks_lock:
            fns, self.callback_fns = self.callback_fns, None
        timestamps = self.timestamps
        for fn, index in zip(fns, self.callback_indexes, strict=True):
            try:
                fn(FutureRecordMetadata(self, index, timestamps[index]))
            except Exception:  # as concurrent.futures does: one bad callback stops none
                log.exception("a send callback raised")


class FutureRecords:
    """send_many()'s outcome: one future for all its records, which may lie in several
    batches (several partitions, or more than a batch holds). result() is every record's
    RecordMetadata in the order they were given; an error fails the whole future (the
    first batch's that failed), though batches that succeeded are written."""

    def __init__(self, topic: str, timestamp: int, count: int):
        self._topic, self._timestamp, self._count = topic, timestamp, count
        # (batch, its index of the first of ours, our positions of those records)
        self._segments: list[tuple[Batch, int, range | list[int]]] = []
        self._lock = threading.Lock()
        self._left = 0  # batches not yet finished, once armed
        self._fns: list | None = []  # None once they have run

    def __len__(self) -> int:
        return self._count

    @property
    def timestamp(self) -> int:
        """The records' timestamp (ms), the same for all."""
        return self._timestamp

    def _add(self, batch: Batch, start: int, positions: range | list[int]) -> None:
        self._segments.append((batch, start, positions))

    def _arm(self) -> None:
        """Called once every record is buffered: count the batches down from here."""
        batches = {id(b): b for b, _, _ in self._segments}
        self._left = len(batches)
        if not batches:
            self._finish()
        for batch in batches.values():
            batch.done.add_done_callback(self._batch_done)

    def _batch_done(self, _future) -> None:
        with self._lock:
            self._left -= 1
            if self._left:
                return
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            fns, self._fns = self._fns, None
        for fn in fns or ():
            try:
                fn(self)
            except Exception:
                log.exception("a send_many callback raised")

    def done(self) -> bool:
        return all(batch.finished for batch, _, _ in self._segments)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for batch, _, _ in self._segments:
            if not batch.finished:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                batch.done.exception(left)  # waits; a timeout raises
            if batch.error is not None:
                return batch.error
        return None

    def result(self, timeout: float | None = None) -> list[RecordMetadata]:
        error = self.exception(timeout)
        if error is not None:
            raise error
        out: list = [None] * self._count
        topic, timestamp = self._topic, self._timestamp
        for batch, start, positions in self._segments:
            base = batch.base_offset
            for i, position in enumerate(positions):
                out[position] = RecordMetadata(topic, batch.partition,
                                               base + start + i if base >= 0 else -1, timestamp)
        return out

    get = result

    def add_done_callback(self, fn) -> None:
        """fn(this future) once every record is acknowledged or failed; at once if so."""
        with self._lock:
            if self._fns is not None:
                self._fns.append(fn)
                return
        fn(self)

"""The Producer: `send()` returns a future of RecordMetadata, as Kafka's clients do.

Records are batched per partition (up to batch_size bytes, or linger_ms; a batch that
waits behind one in flight grows up to max_request_size), and a sender (sender.py)
on the client's background loop ships ready batches to partition leaders, one request per
leader. Each partition has at most one batch in flight, so a retry can never reorder
records. With idempotence (the default with acks=all) each batch carries the producer id,
epoch and its first sequence number, assigned once and kept across retries: a retry the
leader already wrote is answered with the original offsets, never written twice.

With a transactional_id the producer is transactional (KIP-98): init_transactions(),
then begin_transaction() / send() / send_offsets_to_transaction() / commit_transaction()
or abort_transaction(); readers with isolation_level='read_committed' see a transaction's
records only once it commits, and never those of one that aborts.

compression_type ('none', 'gzip', 'snappy', 'lz4', 'zstd') compresses each batch as
Kafka's clients do; brokers store it as sent.

Retriable errors (a leader moved, not enough replicas yet, a timeout) are retried with
backoff; every record ends, acknowledged or failed, within delivery_timeout_ms. The
buffer is bounded (buffer_memory) and send() blocks up to max_block_ms for space, then
raises. Bad arguments are refused by send() itself (TypeError / ValueError), so nothing
the caller passes can reach the background loop. A producer never closed is closed at
interpreter exit, delivering what it can within exit_timeout_ms.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import concurrent.futures
import itertools
import logging
import random
import threading
import uuid
import weakref

from mini_kafka import compression
from mini_kafka.client import arguments, runtime
from mini_kafka.client.batch import Batch, FutureRecordMetadata, FutureRecords
from mini_kafka.client.cluster import ClusterView, parse_bootstrap
from mini_kafka.client.runtime import Runtime
from mini_kafka.client.sender import Sender, run_sender
from mini_kafka.client.transactions import TransactionState
from mini_kafka.clock import SystemClock
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.partitioner import StickyPartitioner, partition_for_key

log = logging.getLogger("mini_kafka.client.producer")

RECORD_OVERHEAD_BYTES = 24


def _acks(value) -> int:
    mapping = {"all": -1, "-1": -1, -1: -1, 1: 1, "1": 1, 0: 0, "0": 0}
    if isinstance(value, bool) or not isinstance(value, int | str) or value not in mapping:
        raise ValueError(f"acks={value!r}: must be 'all' (or -1), 1 or 0")
    return mapping[value]


def _serialized(name: str, item, serializer):
    """`item` through its serializer, checked to be bytes (or None); a bytearray or
    memoryview is copied, so the caller may reuse its buffer once send() returns."""
    if serializer is not None:
        item = serializer(item)
    if item is None or type(item) is bytes:
        return item
    if not isinstance(item, arguments.BYTES_LIKE):
        raise TypeError(f"{name} must be bytes or None, got {type(item).__name__} "
                        f"(pass {name}_serializer= to convert)")
    return bytes(item)


def _column(name: str, items, serializer) -> list:
    """send_many()'s keys or values as a list of bytes or None, as _serialized() makes
    each; all bytes already (the usual case) is checked without a Python step each."""
    if isinstance(items, str | bytes | bytearray | memoryview):
        raise TypeError(f"send_many() takes a sequence of {name}s, not one "
                        f"{type(items).__name__} (send() sends one record)")
    items = list(items)
    if serializer is None and set(map(type, items)) <= {bytes, type(None)}:
        return items
    return [_serialized(name, item, serializer) for item in items]


def _keyed_runs(keys: list, count: int, sticky: StickyPartitioner, topic: str,
                sizes: list[int]) -> list[tuple[int, list[int]]]:
    """Each partition's positions among `keys`, in order: by key, as send() does, and
    keyless ones (None) to the sticky partition."""
    by_partition: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        p = sticky.partition(topic, count, sizes[i]) if key is None \
            else partition_for_key(key, count)
        by_partition.setdefault(p, []).append(i)
    return list(by_partition.items())


class Producer(Sender):
    def __init__(self, bootstrap_servers, *, acks="all", linger_ms: int = 5,
                 batch_size: int = 16384, max_request_size: int = 1024 * 1024,
                 buffer_memory: int = 32 * 1024 * 1024,
                 enable_idempotence: bool | None = None, retry_backoff_ms: int = 100,
                 delivery_timeout_ms: int = 120_000, request_timeout_ms: int = 30_000,
                 max_block_ms: int = 60_000, key_serializer=None, value_serializer=None,
                 client_id: str | None = None, transactional_id: str | None = None,
                 transaction_timeout_ms: int = 60_000, compression_type: str = "none",
                 exit_timeout_ms: int = 5_000,
                 rng: random.Random | None = None):
        self.acks = _acks(acks)
        if enable_idempotence is not None and not isinstance(enable_idempotence, bool):
            raise TypeError(f"enable_idempotence must be True, False or None, got "
                            f"{enable_idempotence!r}")
        if enable_idempotence and self.acks != -1:
            raise ValueError("enable_idempotence=True needs acks='all' (as in Kafka)")
        if transactional_id is not None and (self.acks != -1 or enable_idempotence is False):
            raise ValueError("a transactional producer is idempotent: it needs acks='all'")
        if transactional_id is not None and (not isinstance(transactional_id, str)
                                             or not transactional_id):
            raise TypeError(f"transactional_id must be a non-empty str, got "
                            f"{transactional_id!r}")
        self.idempotent = self.acks == -1 if enable_idempotence is None else enable_idempotence
        self.compression = compression.codec_of(compression_type)
        for name, value, minimum in (
                ("linger_ms", linger_ms, 0), ("batch_size", batch_size, 1),
                ("max_request_size", max_request_size, 1), ("buffer_memory", buffer_memory, 1),
                ("retry_backoff_ms", retry_backoff_ms, 0),
                ("delivery_timeout_ms", delivery_timeout_ms, 1),
                ("request_timeout_ms", request_timeout_ms, 1), ("max_block_ms", max_block_ms, 0),
                ("transaction_timeout_ms", transaction_timeout_ms, 1),
                ("exit_timeout_ms", exit_timeout_ms, 0)):
            arguments.integer(value, name, minimum)
        for name, fn in (("key_serializer", key_serializer),
                         ("value_serializer", value_serializer)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.linger_s = linger_ms / 1000
        self.batch_size = batch_size
        self.max_request_size = max(max_request_size, batch_size)
        self.buffer_memory = buffer_memory
        self.retry_backoff_s = retry_backoff_ms / 1000
        self.delivery_timeout_s = delivery_timeout_ms / 1000
        self.request_timeout_ms = request_timeout_ms
        self.max_block_ms = max_block_ms
        self.exit_timeout_s = exit_timeout_ms / 1000
        self.key_serializer, self.value_serializer = key_serializer, value_serializer
        self.client_id = client_id or f"producer-{uuid.uuid4().hex[:8]}"
        self.clock = SystemClock()
        self._wall_ms = self.clock.wall_ms
        self._view = ClusterView(self.client_id, parse_bootstrap(bootstrap_servers),
                                 request_timeout_ms=request_timeout_ms,
                                 retry_backoff_ms=retry_backoff_ms)
        self._runtime = Runtime(self.client_id)
        # The condition's own lock, taken directly on the per-record path: a Condition's
        # `with` is a Python-level call, the RLock's is not.
        self._mutex = threading.RLock()
        self._lock = threading.Condition(self._mutex)
        self._queues: dict[tuple[str, int], collections.deque[Batch]] = {}
        self._in_flight: dict[tuple[str, int], Batch] = {}  # at most one batch a partition
        self._buffered = 0  # bytes of records not yet acknowledged or failed
        self._flushing = 0
        self._closing = False
        self._closed = False
        self._sticky = StickyPartitioner(batch_size, rng or random.Random())
        self._producer_id, self._producer_epoch = -1, -1
        self._producer_id_task: asyncio.Future | None = None
        self._producer_id_error: BaseException | None = None
        self._producer_id_retry_s = 0.0
        self._refresh_task: asyncio.Future | None = None
        self._next_sequence: dict[tuple[str, int], int] = {}
        self._wake = asyncio.Event()
        self._txn = None if transactional_id is None else TransactionState(
            self._view, transactional_id, transaction_timeout_ms, request_timeout_ms,
            retry_backoff_ms)
        self._sender = self._runtime.submit(run_sender(weakref.ref(self)))
        # Dropped without close(): once it has delivered everything, stop its loop.
        weakref.finalize(self, self._runtime.close_soon, self._view.close).atexit = False
        runtime.close_at_exit(self)

    # -- the public API -------------------------------------------------------------------

    def send(self, topic: str, value=None, key=None, headers=None, partition: int | None = None,
             timestamp_ms: int | None = None) -> FutureRecordMetadata:
        # The per-record path: plain locals and inline checks, no helper calls for the
        # common case (bytes in, no headers, no explicit partition); everything else is
        # checked off it (arguments.py), and the topic only when it is not known yet.
        if self._closing:
            raise KafkaError("INVALID_REQUEST", "the producer is closed")
        if key is not None and (self.key_serializer is not None or type(key) is not bytes):
            key = _serialized("key", key, self.key_serializer)
        if value is not None and (self.value_serializer is not None or type(value) is not bytes):
            value = _serialized("value", value, self.value_serializer)
        size = RECORD_OVERHEAD_BYTES + (0 if key is None else len(key)) + \
            (0 if value is None else len(value))
        if headers is not None:
            headers, header_bytes = arguments.headers(headers)
            size += header_bytes
        if size > self.max_request_size:
            raise KafkaError("MESSAGE_TOO_LARGE", f"a {size}-byte record is over "
                                                  f"max_request_size ({self.max_request_size})")
        partitions = self._partitions(topic)
        if partition is None:
            partition = self._sticky.partition(topic, len(partitions), size) if key is None \
                else partition_for_key(key, len(partitions))
        elif type(partition) is not int or not 0 <= partition < len(partitions):
            arguments.integer(partition, "partition", 0)
            raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                             f"{topic} has partitions 0..{len(partitions) - 1}, not {partition}")
        if timestamp_ms is None:
            timestamp_ms = self._wall_ms()
        elif type(timestamp_ms) is not int or not 0 <= timestamp_ms <= arguments.INT64_MAX:
            arguments.timestamp_ms(timestamp_ms)
        if self._txn is not None:
            self._check_in_transaction()
            if (topic, partition) not in self._txn.partitions:
                self._runtime.run(self._txn.add_partitions([(topic, partition)]))
        return self._enqueue(topic, partition, key, value, timestamp_ms, headers, size)

    def send_many(self, topic: str, values, keys=None, partition: int | None = None,
                  timestamp_ms: int | None = None) -> FutureRecords:
        """send() for each of `values` in order (with keys[i] if `keys` is given, as many
        as the values), checked and buffered a batch at a time instead of a record at a
        time, with one future for them all: RecordMetadata for each, in order. Records go
        where send()'s would (by key; keyless ones to the sticky partition; all to
        `partition` if given), each partition's in order; one timestamp for all (now, or
        timestamp_ms), no headers."""
        if self._closing:
            raise KafkaError("INVALID_REQUEST", "the producer is closed")
        values = _column("value", values, self.value_serializer)
        if keys is not None:
            keys = _column("key", keys, self.key_serializer)
            if len(keys) != len(values):
                raise ValueError(f"{len(keys)} keys for {len(values)} values")
        sizes = [RECORD_OVERHEAD_BYTES + len(v) for v in values] if None not in values else \
            [RECORD_OVERHEAD_BYTES + (0 if v is None else len(v)) for v in values]
        if keys is not None:
            sizes = [s + (0 if k is None else len(k)) for s, k in zip(sizes, keys, strict=True)]
        if sizes and max(sizes) > self.max_request_size:
            raise KafkaError("MESSAGE_TOO_LARGE", f"a {max(sizes)}-byte record is over "
                                                  f"max_request_size ({self.max_request_size})")
        count = len(self._partitions(topic))
        if timestamp_ms is None:
            timestamp_ms = self._wall_ms()
        else:
            arguments.timestamp_ms(timestamp_ms)
        if partition is not None:
            arguments.integer(partition, "partition", 0)
            if partition >= count:
                raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                                 f"{topic} has partitions 0..{count - 1}, not {partition}")
            runs = [(partition, range(len(values)))]
        elif keys is None:
            runs = [(p, range(start, end))
                    for p, start, end in self._sticky.runs(topic, count, sizes)]
        else:
            runs = _keyed_runs(keys, count, self._sticky, topic, sizes)
        if self._txn is not None:
            self._check_in_transaction()
            new = sorted({(topic, p) for p, _ in runs} - set(self._txn.partitions))
            if new:
                self._runtime.run(self._txn.add_partitions(new))
        future = FutureRecords(topic, timestamp_ms, len(values))
        wake = False
        try:
            for p, positions in runs:
                wake |= self._enqueue_run(future, topic, p, keys, values, sizes, positions,
                                          timestamp_ms)
        finally:
            if wake:  # once per call: each wake is a write to the loop's self-pipe
                self._runtime.call_soon(self._wake.set)
        future._arm()
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Send everything buffered now, and wait until each record is acknowledged (or
        failed): at most `timeout` seconds, then KafkaTimeoutError (the records go on)."""
        timeout = arguments.timeout_s(timeout)
        with self._lock:
            pending = [b.done for q in self._queues.values() for b in q]
            pending += [b.done for b in self._in_flight.values()]
            self._flushing += 1
        try:
            if pending and not self._runtime.closed:
                self._runtime.call_soon(self._wake.set)
            done, not_done = concurrent.futures.wait(pending, timeout)
            if not_done:
                raise KafkaTimeoutError(f"flush: {len(not_done)} batch(es) not acknowledged "
                                        f"within {timeout} s")
        finally:
            with self._lock:
                self._flushing -= 1

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is buffered and stop. Waits at most `timeout` seconds (None: up to
        delivery_timeout_ms); records still undelivered then fail (KafkaTimeoutError)."""
        self._shut_down(arguments.timeout_s(timeout), f"close(timeout={timeout})")

    def _shut_down(self, timeout: float | None, why: str) -> None:
        if self._runtime.in_loop_thread():
            raise RuntimeError("close() from a send callback would wait on itself: call it "
                               "from another thread")
        with self._mutex:
            if self._closed:
                return
            self._closed = self._closing = True
        runtime.closed(self)
        try:
            if not self._runtime.closed:
                self._runtime.call_soon(self._wake.set)
                self._sender.result(timeout)  # it returns once nothing is left
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            pass
        except Exception:  # it never raises; if it did, what is left still fails below
            log.exception("%s: the sender loop ended with an error", self.client_id)
        finally:
            failed = self._fail_everything(KafkaTimeoutError(
                f"the producer was closed by {why} before the record was acknowledged"))
            if failed:
                log.warning("%s: closed by %s with %d record(s) not acknowledged: they "
                            "failed", self.client_id, why, failed)
            self._sender.cancel()
            self._runtime.close(self._view.close, timeout_s=1.0)

    def _begin_exit(self) -> None:
        """At interpreter exit: stop lingering, send everything now (close() waits)."""
        if not self._runtime.closed:
            self._closing = True
            self._runtime.call_soon(self._wake.set)

    def _close_at_exit(self) -> None:
        self._shut_down(self.exit_timeout_s, f"interpreter exit (it was never closed; "
                                             f"exit_timeout_ms={self.exit_timeout_s * 1000:.0f})")

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def partitions_for(self, topic: str) -> list[int]:
        return list(range(len(self._partitions(topic))))

    # -- transactions ---------------------------------------------------------------------

    def _transactional(self) -> TransactionState:
        if self._txn is None:
            raise KafkaError("INVALID_TXN_STATE", "not a transactional producer: pass "
                                                  "transactional_id=")
        return self._txn

    def _check_in_transaction(self) -> None:
        if not self._transactional().in_transaction:
            raise KafkaError("INVALID_TXN_STATE", "no transaction in progress: call "
                                                  "begin_transaction() first")

    def init_transactions(self) -> None:
        """Register the transactional id: fences any older producer using it and aborts
        the transaction it may have left open."""
        txn = self._transactional()
        self._runtime.run(txn.init())
        self._producer_id, self._producer_epoch = txn.producer_id, txn.producer_epoch
        self._next_sequence.clear()

    def begin_transaction(self) -> None:
        txn = self._transactional()
        if txn.producer_id < 0:
            raise KafkaError("INVALID_TXN_STATE", "call init_transactions() first")
        if txn.in_transaction:
            raise KafkaError("INVALID_TXN_STATE", "a transaction is already in progress")
        txn.in_transaction = True

    def send_offsets_to_transaction(self, offsets, group) -> None:
        """Commit a consumer group's offsets as part of this transaction. `group` is a
        group id, or a consumer's group_metadata() (then a zombie member is fenced)."""
        normal = arguments.offsets(offsets)
        if isinstance(group, str):
            group = {"group_id": group}
        elif not isinstance(group, dict) or not isinstance(group.get("group_id"), str):
            raise TypeError(f"group must be a group id (str) or a consumer's "
                            f"group_metadata(), got {type(group).__name__}")
        if not group["group_id"]:
            raise ValueError("group: the group id must not be empty")
        self._check_in_transaction()
        self._runtime.run(self._txn.send_offsets(normal, dict(group)))

    def commit_transaction(self) -> None:
        """Send everything, then commit; raises if any record of the transaction failed
        (abort it then)."""
        self._check_in_transaction()
        self.flush()
        if self._txn.failed is not None:
            raise KafkaError("INVALID_TXN_STATE", f"a send in this transaction failed "
                                                  f"({self._txn.failed}): abort it")
        self._runtime.run(self._txn.end(commit=True))

    def abort_transaction(self) -> None:
        """Abort: nothing sent in the transaction is ever read by read_committed
        consumers. The producer starts its next transaction in a new epoch."""
        self._check_in_transaction()
        try:
            self.flush()
        except KafkaError:
            pass  # failed sends are what an abort is for
        self._runtime.run(self._txn.end(commit=False))
        self.init_transactions()  # sequences start over, clear of any failed batch

    # -- buffering (user threads) ---------------------------------------------------------

    def _partitions(self, topic: str):
        try:
            known = self._view.topics.get(topic)
        except TypeError:  # unhashable: not a name; said below
            known = None
        if known:
            return known
        arguments.topic_name(topic)
        return self._runtime.run(self._view.partitions_for(topic, self.max_block_ms))

    def _enqueue_run(self, future: FutureRecords, topic: str, partition: int, keys,
                     values: list, sizes: list[int], positions: range | list[int],
                     timestamp: int) -> bool:
        """send_many()'s records for one partition, appended a batch's worth at a time
        with the same limits as _enqueue(): batch size, and buffer_memory (waiting up
        to max_block_ms for room between batches). True if the sender is to wake."""
        if isinstance(positions, range):  # a stretch of them: slices, not a step per record
            first, last = positions.start, positions.stop
            run_values, run_sizes = values[first:last], sizes[first:last]
            run_keys = None if keys is None else keys[first:last]
        else:
            run_values, run_sizes = [values[i] for i in positions], [sizes[i] for i in positions]
            run_keys = None if keys is None else [keys[i] for i in positions]
        total = [0, *itertools.accumulate(run_sizes)]
        tp = (topic, partition)
        done, count, wake = 0, len(run_values), False
        while done < count:
            with self._mutex:
                if self._buffered + run_sizes[done] > self.buffer_memory and self._buffered:
                    self._wait_for_room(run_sizes[done], f"; {done} of this send_many's "
                                        f"records to {topic}-{partition} were buffered")
                batch, woke, limit = self._batch_for(tp, run_sizes[done])
                room = min(limit - batch.size, self.buffer_memory - self._buffered)
                # As many as fit (at least one: an empty batch takes any record).
                end = max(done + 1, bisect.bisect_right(total, total[done] + room, done) - 1)
                end = min(end, count)
                size = total[end] - total[done]
                start = batch.extend([None] * (end - done) if run_keys is None
                                     else run_keys[done:end], run_values[done:end],
                                     timestamp, size)
                self._buffered += size
                wake |= woke or batch.size >= self.batch_size
            future._add(batch, start, positions[done:end])
            done = end
        return wake

    def _enqueue(self, topic, partition, key, value, timestamp, headers,
                 size) -> FutureRecordMetadata:
        with self._mutex:
            # Checked here, not in a call: this is every send()'s path.
            if self._buffered + size > self.buffer_memory and self._buffered:
                self._wait_for_room(size)
            batch, wake, _ = self._batch_for((topic, partition), size)
            future = batch.append(key, value, timestamp, headers, size)
            self._buffered += size
        if wake:
            self._runtime.call_soon(self._wake.set)
        return future

    def _wait_for_room(self, size: int, detail: str = "") -> None:
        """Under the mutex, with the buffer too full for `size` more bytes: block until
        they fit in buffer_memory (or the buffer is empty: any one record may go), at
        most max_block_ms."""
        if not self._lock.wait_for(
                lambda: self._buffered + size <= self.buffer_memory or self._buffered == 0,
                self.max_block_ms / 1000):
            raise KafkaTimeoutError(f"buffer_memory ({self.buffer_memory} bytes) full for "
                                    f"{self.max_block_ms} ms: the cluster is not keeping "
                                    f"up{detail}")

    def _batch_for(self, tp: tuple[str, int], size: int) -> tuple[Batch, bool, int]:
        """Under the mutex: the batch a `size`-byte record joins (the partition's last,
        or a new one), whether the sender is to wake for it, and the batch's limit."""
        # While the partition's batch is in flight, the next one may grow past
        # batch_size: it cannot leave before that reply anyway, and one big batch
        # costs the client, the leader and the followers far less than many.
        limit = self.max_request_size if tp in self._in_flight else self.batch_size
        queue = self._queues.get(tp)
        if queue is None:
            queue = self._queues[tp] = collections.deque()
        if queue and queue[-1].encoded is None and \
                (not queue[-1].values or queue[-1].size + size <= limit):
            return queue[-1], False, limit
        queue.append(Batch(tp[0], tp[1], self.clock.monotonic_ms() / 1000))
        if not self._buffered:  # (then every queue is empty: a record starts one)
            # Records to deliver: the loop keeps this producer alive until they
            # are, even if the caller drops it; the sender lets go once all end.
            self._runtime.keepalive = self
        return queue[-1], len(queue) <= 2, limit  # a linger starts / a batch filled

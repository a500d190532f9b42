"""The Producer: `send()` returns a future of RecordMetadata, as Kafka's clients do.

Records are batched per partition (up to batch_size bytes, or linger_ms; a batch that
waits behind one in flight grows up to max_request_size), and a sender
on the client's background loop ships ready batches to partition leaders, one request per
leader. Each partition has at most one batch in flight, so a retry can never reorder
records. With idempotence (the default with acks=all) each batch carries the producer id,
epoch and its first sequence number, assigned once and kept across retries: a retry the
leader already wrote is answered with the original offsets, never written twice.

With a transactional_id the producer is transactional (KIP-98): init_transactions(),
then begin_transaction() / send() / send_offsets_to_transaction() / commit_transaction()
or abort_transaction(); readers with isolation_level='read_committed' see a transaction's
records only once it commits, and never those of one that aborts.

Retriable errors (a leader moved, not enough replicas yet, a timeout) are retried with
backoff until delivery_timeout_ms; the buffer is bounded (buffer_memory) and send() blocks
up to max_block_ms for space, then raises.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import random
import threading
import uuid

from mini_kafka import records
from mini_kafka.client.batch import Batch, FutureRecordMetadata
from mini_kafka.client.cluster import ClusterView, parse_bootstrap
from mini_kafka.client.runtime import Runtime
from mini_kafka.client.transactions import TransactionState
from mini_kafka.clock import SystemClock
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.partitioner import StickyPartitioner, partition_for_key
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.client.producer")

RECORD_OVERHEAD_BYTES = 24


def _acks(value) -> int:
    mapping = {"all": -1, "-1": -1, -1: -1, 1: 1, "1": 1, 0: 0, "0": 0}
    if value not in mapping:
        raise ValueError(f"acks={value!r}: must be 'all' (or -1), 1 or 0")
    return mapping[value]


def _serialized(name: str, item, serializer):
    """`item` through its serializer, checked to be bytes (or None)."""
    if serializer is not None:
        item = serializer(item)
    if item is not None and not isinstance(item, bytes | bytearray | memoryview):
        raise TypeError(f"{name} must be bytes or None, got {type(item).__name__} "
                        f"(pass {name}_serializer= to convert)")
    return item


def requests_within(batches: list[Batch], max_request_size: int) -> list[list[Batch]]:
    """The batches for one leader, in order, cut into requests of at most
    max_request_size bytes each (one batch alone may fill a request): batches grow to
    max_request_size, so one request for many partitions could pass the size a broker's
    socket takes."""
    requests: list[list[Batch]] = []
    size = 0
    for batch in batches:
        if not requests or size + len(batch.encoded) > max_request_size:
            requests.append([])
            size = 0
        requests[-1].append(batch)
        size += len(batch.encoded)
    return requests


class Producer:
    def __init__(self, bootstrap_servers, *, acks="all", linger_ms: int = 5,
                 batch_size: int = 16384, max_request_size: int = 1024 * 1024,
                 buffer_memory: int = 32 * 1024 * 1024,
                 enable_idempotence: bool | None = None, retry_backoff_ms: int = 100,
                 delivery_timeout_ms: int = 120_000, request_timeout_ms: int = 30_000,
                 max_block_ms: int = 60_000, key_serializer=None, value_serializer=None,
                 client_id: str | None = None, transactional_id: str | None = None,
                 transaction_timeout_ms: int = 60_000, rng: random.Random | None = None):
        self.acks = _acks(acks)
        if enable_idempotence and self.acks != -1:
            raise ValueError("enable_idempotence=True needs acks='all' (as in Kafka)")
        if transactional_id is not None and (self.acks != -1 or enable_idempotence is False):
            raise ValueError("a transactional producer is idempotent: it needs acks='all'")
        self.idempotent = self.acks == -1 if enable_idempotence is None else enable_idempotence
        for name, value in (("linger_ms", linger_ms), ("batch_size", batch_size),
                            ("max_request_size", max_request_size),
                            ("buffer_memory", buffer_memory),
                            ("delivery_timeout_ms", delivery_timeout_ms),
                            ("request_timeout_ms", request_timeout_ms)):
            if value < (0 if name == "linger_ms" else 1):
                raise ValueError(f"{name}={value}: must be positive")
        self.linger_s = linger_ms / 1000
        self.batch_size = batch_size
        self.max_request_size = max(max_request_size, batch_size)
        self.buffer_memory = buffer_memory
        self.retry_backoff_s = retry_backoff_ms / 1000
        self.delivery_timeout_s = delivery_timeout_ms / 1000
        self.request_timeout_ms = request_timeout_ms
        self.max_block_ms = max_block_ms
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
        self._in_flight: set[tuple[str, int]] = set()
        self._buffered = 0
        self._flushing = 0
        self._closing = False
        self._sticky = StickyPartitioner(batch_size, rng or random.Random())
        self._producer_id, self._producer_epoch = -1, -1
        self._next_sequence: dict[tuple[str, int], int] = {}
        self._wake = asyncio.Event()
        self._txn = None if transactional_id is None else TransactionState(
            self._view, transactional_id, transaction_timeout_ms, request_timeout_ms,
            retry_backoff_ms)
        self._sender = self._runtime.submit(self._run_sender())

    # -- the public API -------------------------------------------------------------------

    def send(self, topic: str, value=None, key=None, headers=None, partition: int | None = None,
             timestamp_ms: int | None = None) -> FutureRecordMetadata:
        # The per-record path: plain locals and inline checks, no helper calls for the
        # common case (bytes in, no headers, no explicit partition).
        if self._closing:
            raise KafkaError("INVALID_REQUEST", "the producer is closed")
        if key is not None and (self.key_serializer is not None or type(key) is not bytes):
            key = _serialized("key", key, self.key_serializer)
        if value is not None and (self.value_serializer is not None or type(value) is not bytes):
            value = _serialized("value", value, self.value_serializer)
        size = RECORD_OVERHEAD_BYTES + (0 if key is None else len(key)) + \
            (0 if value is None else len(value))
        if headers:
            headers = [(k, None if v is None else bytes(v)) for k, v in headers]
            size += sum(len(k) + len(v or b"") for k, v in headers)
        else:
            headers = None
        if size > self.max_request_size:
            raise KafkaError("MESSAGE_TOO_LARGE", f"a {size}-byte record is over "
                                                  f"max_request_size ({self.max_request_size})")
        partitions = self._partitions(topic)
        if partition is None:
            partition = self._sticky.partition(topic, len(partitions), size) if key is None \
                else partition_for_key(bytes(key), len(partitions))
        elif not 0 <= partition < len(partitions):
            raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                             f"{topic} has partitions 0..{len(partitions) - 1}, not {partition}")
        if self._txn is not None:
            self._check_in_transaction()
            if (topic, partition) not in self._txn.partitions:
                self._runtime.run(self._txn.add_partitions([(topic, partition)]))
        timestamp = self._wall_ms() if timestamp_ms is None else timestamp_ms
        return self._enqueue(topic, partition, key, value, timestamp, headers, size)

    def flush(self, timeout: float | None = None) -> None:
        """Send everything buffered now, and wait until each record is acknowledged (or
        failed)."""
        with self._lock:
            pending = [b.done for q in self._queues.values() for b in q]
            self._flushing += 1
        self._runtime.call_soon(self._wake.set)
        try:
            done, not_done = concurrent.futures.wait(pending, timeout)
            if not_done:
                raise KafkaTimeoutError(f"{len(not_done)} batch(es) not acknowledged within "
                                        f"{timeout} s")
        finally:
            with self._lock:
                self._flushing -= 1

    def close(self, timeout: float | None = None) -> None:
        if self._runtime.closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closing = True
            self._runtime.call_soon(self._wake.set)
            try:
                self._sender.result(5)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                pass
            self._runtime.close(self._view.close)

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
        self._check_in_transaction()
        group = {"group_id": group} if isinstance(group, str) else dict(group)
        normal = {}
        for tp, value in offsets.items():
            value = (value, "") if isinstance(value, int) else (value[0], value[1])
            normal[tuple(tp)] = (int(value[0]), str(value[1]))
        self._runtime.run(self._txn.send_offsets(normal, group))

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
        known = self._view.topics.get(topic)
        if known:
            return known
        return self._runtime.run(self._view.partitions_for(topic, self.max_block_ms))

    def _enqueue(self, topic, partition, key, value, timestamp, headers,
                 size) -> FutureRecordMetadata:
        wake = False
        with self._mutex:
            if self._buffered + size > self.buffer_memory and self._buffered and \
                    not self._lock.wait_for(
                        lambda: self._buffered + size <= self.buffer_memory
                        or self._buffered == 0, self.max_block_ms / 1000):
                raise KafkaTimeoutError(f"buffer_memory ({self.buffer_memory} bytes) full for "
                                        f"{self.max_block_ms} ms: the cluster is not keeping up")
            tp = (topic, partition)
            queue = self._queues.get(tp)
            if queue is None:
                queue = self._queues[tp] = collections.deque()
            # While the partition's batch is in flight, the next one may grow past
            # batch_size: it cannot leave before that reply anyway, and one big batch
            # costs the client, the leader and the followers far less than many.
            limit = self.max_request_size if tp in self._in_flight else self.batch_size
            if not queue or queue[-1].encoded is not None or \
                    (queue[-1].values and queue[-1].size + size > limit):
                queue.append(Batch(topic, partition, self.clock.monotonic_ms() / 1000))
                wake = len(queue) == 1 or len(queue) == 2  # a linger starts / a batch filled
            future = queue[-1].append(key, value, timestamp, headers, size)
            self._buffered += size
        if wake:
            self._runtime.call_soon(self._wake.set)
        return future

    # -- sending (the loop) ---------------------------------------------------------------

    async def _run_sender(self) -> None:
        while True:
            self._wake.clear()
            ready, next_check_s = self._collect_ready(self.clock.monotonic_ms() / 1000)
            if ready:
                await self._dispatch(ready)
            with self._lock:
                idle = not any(self._queues.values()) and not self._in_flight
            if self._closing and idle:
                return
            timeout = None if next_check_s is None else max(
                0.0, next_check_s - self.clock.monotonic_ms() / 1000)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def _collect_ready(self, now_s: float) -> tuple[list[Batch], float | None]:
        ready, next_check = [], None
        with self._lock:
            for key, queue in self._queues.items():
                if not queue or key in self._in_flight:
                    continue
                head = queue[0]
                due = max(head.created_s + self.linger_s, head.retry_at_s)
                full = len(queue) > 1 or head.size >= self.batch_size
                if (full and head.retry_at_s <= now_s) or due <= now_s or \
                        (self._flushing or self._closing) and head.retry_at_s <= now_s:
                    ready.append(queue.popleft())
                    self._in_flight.add(key)
                else:
                    next_check = due if next_check is None else min(next_check, due)
        return ready, next_check

    async def _dispatch(self, ready: list[Batch]) -> None:
        if self.idempotent and self._producer_id < 0 and self._txn is None:
            try:
                reply = await self._view.any_broker(ApiKey.INIT_PRODUCER_ID, {})
                if reply.error != "NONE":
                    raise KafkaError(reply.error, reply.body.get("message", ""))
                self._producer_id = reply.body["producer_id"]
                self._producer_epoch = reply.body["producer_epoch"]
            except KafkaError as e:
                for batch in ready:
                    self._retry_or_fail(batch, e)
                return
        by_leader: dict[str, list[Batch]] = {}
        for batch in ready:
            leader = self._view.leader_of(batch.topic, batch.partition)
            if leader is None:
                asyncio.ensure_future(self._refresh())
                self._retry_or_fail(batch, KafkaError("LEADER_NOT_AVAILABLE",
                                                      f"{batch.topic}-{batch.partition}"))
                continue
            self._encode(batch)
            by_leader.setdefault(leader[1], []).append(batch)
        for endpoint, batches in by_leader.items():
            for request in requests_within(batches, self.max_request_size):
                asyncio.ensure_future(self._produce(endpoint, request))

    def _encode(self, batch: Batch) -> None:
        if batch.encoded is not None:
            return  # a retry goes out byte for byte as before: same sequence, same CRC
        key = (batch.topic, batch.partition)
        if self.idempotent:
            batch.base_sequence = self._next_sequence.get(key, 0)
            self._next_sequence[key] = (batch.base_sequence + len(batch)) % 2**31
        batch.encoded = records.encode_columns(
            batch.keys, batch.values, batch.timestamps, batch.headers,
            producer_id=self._producer_id if self.idempotent else -1,
            producer_epoch=self._producer_epoch if self.idempotent else -1,
            base_sequence=batch.base_sequence if self.idempotent else -1,
            transactional=self._txn is not None)

    async def _produce(self, endpoint: str, batches: list[Batch]) -> None:
        body = {"acks": self.acks, "timeout_ms": self.request_timeout_ms,
                "partitions": [{"topic": b.topic, "partition": b.partition, "batch": i}
                               for i, b in enumerate(batches)]}
        payloads = [b.encoded for b in batches]
        try:
            if self.acks == 0:
                await self._view.client().send_oneway(endpoint, ApiKey.PRODUCE, body, payloads)
                for b in batches:
                    self._complete(b, -1)
                return
            try:
                reply = await self._view.request(endpoint, ApiKey.PRODUCE, body, payloads,
                                                 timeout_ms=self.request_timeout_ms + 1000)
            except KafkaError as e:
                asyncio.ensure_future(self._refresh())
                for b in batches:
                    self._retry_or_fail(b, e)
                return
            results = reply.body.get("partitions") or []
            if reply.error != "NONE" or len(results) != len(batches):
                error = KafkaError(reply.error if reply.error != "NONE" else "UNKNOWN_SERVER_ERROR",
                                   reply.body.get("message", "malformed produce reply"))
                for b in batches:
                    self._fail(b, error)
                return
            for b, result in zip(batches, results, strict=True):
                if result["error"] == "NONE":
                    self._complete(b, result["base_offset"])
                    continue
                error = KafkaError(result["error"], result.get("message", ""))
                if error.refresh_metadata:
                    asyncio.ensure_future(self._refresh())
                if error.retriable:
                    self._retry_or_fail(b, error)
                else:
                    self._fail(b, error)
        finally:
            with self._lock:
                for b in batches:
                    self._in_flight.discard((b.topic, b.partition))
            self._wake.set()

    async def _refresh(self) -> None:
        try:
            await self._view.refresh(list({t for t, _ in self._queues}) or None)
        except KafkaError as e:
            log.info("metadata refresh failed: %s", e)

    def _retry_or_fail(self, batch: Batch, error: KafkaError) -> None:
        now_s = self.clock.monotonic_ms() / 1000
        if now_s - batch.created_s > self.delivery_timeout_s:
            self._fail(batch, KafkaTimeoutError(
                f"{len(batch)} record(s) for {batch.topic}-{batch.partition} expired "
                f"after {self.delivery_timeout_s * 1000:.0f} ms (delivery_timeout_ms); "
                f"last error: {error}"))
            return
        batch.attempts += 1
        batch.retry_at_s = now_s + min(self.retry_backoff_s * batch.attempts, 1.0)
        with self._lock:
            self._queues.setdefault((batch.topic, batch.partition),
                                    collections.deque()).appendleft(batch)
        asyncio.get_running_loop().call_later(batch.retry_at_s - now_s, self._wake.set)

    def _complete(self, batch: Batch, base_offset: int) -> None:
        batch.complete(base_offset)
        self._release(batch)

    def _fail(self, batch: Batch, error: Exception) -> None:
        batch.fail(error)
        self._release(batch)
        if self._txn is not None:
            self._txn.failed = error  # the transaction must abort; that starts a new epoch
        elif self.idempotent and batch.base_sequence is not None:
            self._reset_sequences(error)

    def _reset_sequences(self, error: Exception) -> None:
        """A batch with a sequence number failed for good: later sequences would leave a
        gap. Start over under a new producer id (Kafka bumps the epoch); batches already
        tried under the old one cannot be resent safely, so they fail too."""
        self._producer_id, self._producer_epoch = -1, -1
        self._next_sequence.clear()
        with self._lock:
            for queue in self._queues.values():
                for b in list(queue):
                    if b.attempts:
                        queue.remove(b)
                        b.fail(error)
                        self._buffered -= b.size
                    else:
                        b.encoded, b.base_sequence = None, None
            self._lock.notify_all()

    def _release(self, batch: Batch) -> None:
        with self._lock:
            self._buffered -= batch.size
            self._lock.notify_all()

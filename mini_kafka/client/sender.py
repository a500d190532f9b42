"""The producer's sender: the loop on the client's background thread that takes ready
batches from the accumulator and ships them to partition leaders, one request per leader.

Every batch ends — acknowledged or failed — within delivery_timeout_ms of its creation,
whatever the cluster does: each round of the loop first fails the batches past their
deadline, queued or in flight, and the loop wakes for the earliest deadline it holds.
No other path has to remember to check it. A partition with no known leader keeps its
batches queued (and asks for fresh metadata) instead of taking them out; a partition's
in-flight slot is freed only by the request that holds it, and that request is bounded.

An unexpected exception fails the batches it touched, is logged, and the loop goes on.

The loop holds its producer strongly only while the producer has records to deliver
(Runtime.keepalive): a producer dropped without close() still delivers what it took,
then can be collected, and its finalizer stops the loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import weakref

from mini_kafka import records
from mini_kafka.client.batch import Batch
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.client.producer")

REQUEST_GRACE_S = 2.0  # past the transport's own timeout: only a transport bug needs it


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


async def run_sender(ref: weakref.ref) -> None:
    while True:
        producer = ref()
        if producer is None:
            return
        wake = producer._wake
        wake.clear()
        wait_s = producer._sender_pass()
        if wait_s is None:
            return  # closing, and nothing is left
        del producer  # a dropped producer with nothing to deliver may now be collected
        try:
            async with asyncio.timeout(None if wait_s == math.inf else wait_s):
                await wake.wait()
        except TimeoutError:
            pass


class Sender:
    """The sending half of the Producer (a mixin over its state: queues, in-flight
    batches, the cluster view, the producer id)."""

    # -- one round of the loop --------------------------------------------------------------

    def _sender_pass(self) -> float | None:
        """Expire, collect, dispatch. Seconds until the next round is due (math.inf: only
        a wake-up), or None once closing with nothing left."""
        now_s = self.clock.monotonic_ms() / 1000
        ready: list[Batch] = []
        try:
            ended, wait_s = self._collect(now_s, ready)
            for batch, error in ended:
                self._fail(batch, error or self._expired_error(batch))
            if ready:
                self._dispatch(ready)
        except Exception as e:  # a bug: never a silently dead sender
            log.exception("%s: unexpected error in the sender loop; failing the %d batch(es) "
                          "it was sending", self.client_id, len(ready))
            for batch in ready:
                self._abandon(batch, e)
            wait_s = self.retry_backoff_s
        with self._lock:
            if self._buffered == 0:
                self._runtime.keepalive = None
            if self._closing and not self._in_flight and not any(self._queues.values()):
                return None
        return max(wait_s - (self.clock.monotonic_ms() / 1000 - now_s), 0.0)

    def _collect(self, now_s: float, ready: list[Batch]
                 ) -> tuple[list[tuple[Batch, BaseException | None]], float]:
        """Take out the batches due to be sent (into `ready`); return the batches to fail
        (with their error; None: past their delivery deadline) and the seconds until
        something is next due."""
        expired: list[tuple[Batch, BaseException | None]] = []
        next_s = math.inf
        lifetime_s = self.delivery_timeout_s
        drain = self._flushing or self._closing
        no_producer_id = self.idempotent and self._producer_id < 0 and self._txn is None
        producer_id_due_s = None  # asked for only once a batch is ready to go
        no_leader = False
        with self._lock:
            for tp, queue in self._queues.items():
                try:
                    while queue and queue[0].created_s + lifetime_s <= now_s:
                        expired.append((queue.popleft(), None))
                    if not queue:
                        continue
                    head = queue[0]
                    next_s = min(next_s, head.created_s + lifetime_s)
                    if tp in self._in_flight:
                        continue
                    due = max(head.created_s + self.linger_s, head.retry_at_s)
                    full = len(queue) > 1 or head.size >= self.batch_size
                    if not (due <= now_s or (full or drain) and head.retry_at_s <= now_s):
                        next_s = min(next_s, due)
                        continue
                    if no_producer_id:
                        if producer_id_due_s is None:
                            producer_id_due_s = self._ensure_producer_id(now_s)
                            next_s = min(next_s, producer_id_due_s)
                        head.last_error = self._producer_id_error
                        continue
                    if self._view.leader_of(*tp) is None:
                        head.last_error = KafkaError("LEADER_NOT_AVAILABLE",
                                                     f"no leader known for {tp[0]}-{tp[1]}")
                        no_leader = True
                        next_s = min(next_s, now_s + self.retry_backoff_s)
                        continue
                    ready.append(queue.popleft())
                    self._in_flight[tp] = head
                except Exception as e:  # a bug: fail this partition's batches, not the loop
                    log.exception("%s: failing the batches of %s-%s", self.client_id, *tp)
                    expired.extend((batch, e) for batch in queue)
                    queue.clear()
            for batch in self._in_flight.values():
                if batch.finished:
                    continue  # expired earlier; its request still holds the slot
                if batch.created_s + lifetime_s <= now_s:
                    expired.append((batch, None))
                else:
                    next_s = min(next_s, batch.created_s + lifetime_s)
        if no_leader:
            self._request_refresh()
        return expired, next_s - now_s

    def _expired_error(self, batch: Batch) -> KafkaTimeoutError:
        where = "in flight" if self._in_flight.get((batch.topic, batch.partition)) is batch \
            else "queued"
        return KafkaTimeoutError(
            f"{len(batch)} record(s) for {batch.topic}-{batch.partition} expired after "
            f"{self.delivery_timeout_s * 1000:.0f} ms (delivery_timeout_ms), {where}; "
            f"last error: {batch.last_error or 'none'}")

    # -- what a batch needs before it can go: a producer id, a leader ---------------------

    def _ensure_producer_id(self, now_s: float) -> float:
        """Start fetching a producer id unless that is under way or backing off; the
        seconds until the next try (math.inf while one is in flight: it wakes the loop)."""
        if self._producer_id_task is not None and not self._producer_id_task.done():
            return math.inf
        if now_s < self._producer_id_retry_s:
            return self._producer_id_retry_s
        self._producer_id_task = asyncio.ensure_future(self._init_producer_id())
        return math.inf

    async def _init_producer_id(self) -> None:
        try:
            reply = await self._view.any_broker(ApiKey.INIT_PRODUCER_ID, {})
            if reply.error != "NONE":
                raise KafkaError(reply.error, reply.body.get("message", ""))
            producer_id, epoch = reply.body["producer_id"], reply.body["producer_epoch"]
            if not isinstance(producer_id, int) or not isinstance(epoch, int):
                raise KafkaError("UNKNOWN_SERVER_ERROR", f"malformed producer id {reply.body}")
            self._producer_id, self._producer_epoch = producer_id, epoch
            self._producer_id_error = None
        except Exception as e:
            if not isinstance(e, KafkaError):
                log.exception("%s: fetching a producer id", self.client_id)
                e = KafkaError("UNKNOWN_SERVER_ERROR", f"fetching a producer id: {e!r}")
            log.info("%s: no producer id yet: %s", self.client_id, e)
            self._producer_id_error = e
            self._producer_id_retry_s = self.clock.monotonic_ms() / 1000 + self.retry_backoff_s
        finally:
            self._wake.set()

    def _request_refresh(self) -> None:
        """Fresh metadata, one request at a time; the loop is woken when it is in."""
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        with self._lock:
            topics = sorted({t for t, _ in self._queues})
        try:
            await self._view.refresh(topics or None)
        except KafkaError as e:
            log.info("%s: metadata refresh failed: %s", self.client_id, e)
        except Exception:
            log.exception("%s: metadata refresh failed", self.client_id)
        finally:
            self._wake.set()

    # -- sending --------------------------------------------------------------------------

    def _dispatch(self, ready: list[Batch]) -> None:
        by_leader: dict[str, list[Batch]] = {}
        for batch in ready:
            try:
                endpoint = self._view.leader_of(batch.topic, batch.partition)[1]
                self._encode(batch)
            except Exception as e:  # a record the codec refuses: its batch fails, alone
                log.exception("%s: cannot send a batch for %s-%d", self.client_id,
                              batch.topic, batch.partition)
                self._abandon(batch, e)
                continue
            by_leader.setdefault(endpoint, []).append(batch)
        for endpoint, batches in by_leader.items():
            for request in requests_within(batches, self.max_request_size):
                asyncio.ensure_future(self._produce(endpoint, request))

    def _encode(self, batch: Batch) -> None:
        if batch.encoded is not None:
            return  # a retry goes out byte for byte as before: same sequence, same CRC
        key = (batch.topic, batch.partition)
        base_sequence = self._next_sequence.get(key, 0) if self.idempotent else -1
        encoded = records.encode_columns(
            batch.keys, batch.values, batch.timestamps, batch.headers,
            producer_id=self._producer_id if self.idempotent else -1,
            producer_epoch=self._producer_epoch if self.idempotent else -1,
            base_sequence=base_sequence, transactional=self._txn is not None,
            compression_codec=self.compression)
        # Only once encoded: a batch the codec refused must not leave a sequence gap.
        if self.idempotent:
            batch.base_sequence = base_sequence
            self._next_sequence[key] = (base_sequence + len(batch)) % 2**31
        batch.encoded = encoded

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
                async with asyncio.timeout(self.request_timeout_ms / 1000 + 1 + REQUEST_GRACE_S):
                    reply = await self._view.request(endpoint, ApiKey.PRODUCE, body, payloads,
                                                     timeout_ms=self.request_timeout_ms + 1000)
            except TimeoutError:
                reply = KafkaTimeoutError(f"PRODUCE to {endpoint}: no reply, and the "
                                          "transport did not time it out")
            except KafkaError as e:
                reply = e
            if isinstance(reply, KafkaError):
                self._request_refresh()
                for b in batches:
                    self._retry_or_fail(b, reply)
                return
            self._handle_reply(endpoint, batches, reply)
        except Exception as e:  # a bug: these batches fail with it, the producer lives on
            log.exception("%s: PRODUCE to %s failed", self.client_id, endpoint)
            for b in batches:
                self._fail(b, e)
        finally:
            with self._lock:
                for b in batches:
                    tp = (b.topic, b.partition)
                    if self._in_flight.get(tp) is b:
                        del self._in_flight[tp]
            self._wake.set()

    def _handle_reply(self, endpoint: str, batches: list[Batch], reply) -> None:
        results = reply.body.get("partitions")
        if reply.error != "NONE" or not isinstance(results, list) or \
                len(results) != len(batches):
            error = KafkaError(reply.error if reply.error != "NONE" else "UNKNOWN_SERVER_ERROR",
                               reply.body.get("message", "") or
                               f"malformed produce reply from {endpoint}")
            for b in batches:
                self._fail(b, error)
            return
        for b, result in zip(batches, results, strict=True):
            try:
                error_name = result["error"]
                if error_name == "NONE":
                    self._complete(b, int(result["base_offset"]))
                    continue
                error = KafkaError(error_name, result.get("message", ""))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                self._fail(b, KafkaError("UNKNOWN_SERVER_ERROR", f"malformed produce reply "
                                                                 f"from {endpoint}: {e!r}"))
                continue
            if error.refresh_metadata:
                self._request_refresh()
            if error.retriable:
                self._retry_or_fail(b, error)
            else:
                self._fail(b, error)

    # -- outcomes -------------------------------------------------------------------------

    def _retry_or_fail(self, batch: Batch, error: KafkaError) -> None:
        if batch.finished:
            return  # expired while its request was out
        now_s = self.clock.monotonic_ms() / 1000
        batch.last_error = error
        if now_s >= batch.created_s + self.delivery_timeout_s:
            self._fail(batch, self._expired_error(batch))
            return
        batch.attempts += 1
        batch.retry_at_s = now_s + min(self.retry_backoff_s * batch.attempts, 1.0)
        with self._lock:
            self._queues.setdefault((batch.topic, batch.partition),
                                    collections.deque()).appendleft(batch)
        asyncio.get_running_loop().call_later(batch.retry_at_s - now_s, self._wake.set)

    def _abandon(self, batch: Batch, error: BaseException) -> None:
        """Fail a batch taken out for sending, and free its partition's slot."""
        with self._lock:
            tp = (batch.topic, batch.partition)
            if self._in_flight.get(tp) is batch:
                del self._in_flight[tp]
        self._fail(batch, error)

    def _complete(self, batch: Batch, base_offset: int) -> None:
        if batch.complete(base_offset):
            self._release(batch)

    def _fail(self, batch: Batch, error: BaseException) -> None:
        if not batch.fail(error):
            return
        self._release(batch)
        if self._txn is not None:
            self._txn.failed = error  # the transaction must abort; that starts a new epoch
        elif self.idempotent and batch.base_sequence is not None:
            self._reset_sequences(error)

    def _reset_sequences(self, error: BaseException) -> None:
        """A batch with a sequence number failed for good: later sequences would leave a
        gap. Start over under a new producer id (Kafka bumps the epoch); batches already
        tried under the old one cannot be resent safely, so they fail too."""
        self._producer_id, self._producer_epoch = -1, -1
        self._next_sequence.clear()
        tried = []
        with self._lock:
            for queue in self._queues.values():
                for b in list(queue):
                    if b.attempts:
                        queue.remove(b)
                        tried.append(b)
                    else:
                        b.encoded, b.base_sequence = None, None
        for b in tried:
            if b.fail(error):
                self._release(b)

    def _release(self, batch: Batch) -> None:
        with self._lock:
            self._buffered -= batch.size
            self._lock.notify_all()

    def _fail_everything(self, error: BaseException) -> int:
        """Fail every batch not yet finished, queued or in flight (a close that ran out of
        time); the number of records failed."""
        with self._lock:
            left = [b for q in self._queues.values() for b in q]
            left += [b for b in self._in_flight.values() if not b.finished]
            for q in self._queues.values():
                q.clear()
        count = 0
        for batch in left:
            if batch.fail(error):
                count += len(batch)
                self._release(batch)
        return count



"""The partitions this broker hosts, reconciled with committed metadata, and the produce,
fetch and list-offsets logic over them.

- Produce appends on the leader; acks=all waits until the high watermark passes the batch
  (every in-sync replica has it), or fails with Kafka's error for why it cannot.
- Fetch serves consumers up to the high watermark and followers up to the log end; a
  follower whose last fetched epoch diverges from ours is told where (KIP-320). With
  max_wait_ms and min_bytes it long-polls until data arrives.
- Leaders ask the controller to shrink the ISR when a follower lags longer than
  replica_lag_time_max_ms and to expand it when one has caught up (AlterPartition), and
  nudge followers whose fetch they lost (leader_upkeep.py).
- A storage error in any of this takes that replica offline on this broker
  (replica_storage.py) and answers KAFKA_STORAGE_ERROR; the rest go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mini_kafka.broker.fetcher import FetcherManager
from mini_kafka.broker.leader_upkeep import LeaderUpkeep
from mini_kafka.broker.log import LogConfig, compact
from mini_kafka.broker.long_poll import hw_news, news_only, wait_any
from mini_kafka.broker.partition import BACK_OFF, FOLLOWER, Partition
from mini_kafka.broker.periodic import PeriodicJobs
from mini_kafka.broker.replica_storage import STORAGE_ERRORS, ReplicaStorage
from mini_kafka.errors import KafkaError
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.metadata import MetadataImage
from mini_kafka.records import BatchHeader
from mini_kafka.topic_config import effective

log = logging.getLogger("mini_kafka.broker.replicas")

HW_CHECKPOINT_FILE = "replication-offset-checkpoint"
EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3  # ListOffsets' special timestamps
READ_COMMITTED = 1  # Kafka's isolation_level: 0 read_uncommitted, 1 read_committed


class ReplicaManager:
    def __init__(self, role):
        self.role = role  # the BrokerRole: node, config, image, controller client
        self.node = role.node
        self.config = role.config
        self.broker_id = role.broker_id
        self.clock = role.node.clock
        self.data_dir: Path = role.node.data_dir
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.checkpointed_hw = self._read_hw_checkpoint()
        self._hw_written: bytes | None = None  # the checkpoint file's content, once written
        self._hw_seen: tuple[list, list[int]] | None = None  # replicas and HWs it holds
        self.fetchers = FetcherManager(self)
        self.storage = ReplicaStorage(self)
        self.repeats = RepeatLimitedLog(log, self.config.limits.log_repeat_interval_ms,
                                        self.clock)
        self._tasks: list[asyncio.Task] = []
        self.upkeep = LeaderUpkeep(self)

    # -- lifecycle ------------------------------------------------------------------------

    def periodic_jobs(self, now_ms: int) -> PeriodicJobs:
        t = self.config.timeouts
        return PeriodicJobs([(min(500, t.replica_lag_time_max_ms // 2), self.upkeep.check),
                             (1000, self._checkpoint_hw),
                             (t.retention_check_interval_ms, self._clean_logs),
                             (t.storage_retry_interval_ms, self._retry_offline)], now_ms)

    def start(self) -> None:
        self._tasks = [self.node.supervisor.spawn(
            self._run_periodic(), "ISR checks, HW checkpoints, retention, retries",
            forever=True)]

    async def _run_periodic(self) -> None:
        """ISR checks, HW checkpoints, retention and offline retries on one timer
        (periodic.py), on the event loop's clock like the sleeps it replaces."""
        loop = asyncio.get_running_loop()
        jobs = self.periodic_jobs(int(loop.time() * 1000))
        while True:
            await asyncio.sleep(max(0, jobs.next_due_ms() - loop.time() * 1000) / 1000)
            for work in jobs.take_due(int(loop.time() * 1000)):
                try:
                    work()
                except Exception:  # a failed round is retried next interval
                    log.exception("periodic %s failed", work.__name__)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.fetchers.close()
        self._checkpoint_hw()
        for part in self.partitions.values():
            try:
                part.close()
            except OSError as e:  # the next start treats it as a crash: no harm
                log.warning("%s: not closed cleanly: %s", part.name, e)

    # -- metadata -------------------------------------------------------------------------

    def on_metadata(self, image: MetadataImage,
                    changed: set[tuple[str, int]] | None = None) -> None:
        """Take on committed metadata, all at once (see `reconcile`)."""
        for _ in self.reconcile(image, changed):
            pass

    async def on_metadata_in_slices(self, image: MetadataImage,
                                    changed: set[tuple[str, int]] | None,
                                    slice_ms: int) -> None:
        """Take on committed metadata, handing the event loop back every `slice_ms`.
        Taking on the 30 replicas of a 1000-partition create is ~40 ms of CPU a broker;
        with 100 brokers sharing two cores that was seconds without a heartbeat, and
        brokers alive and busy were fenced by the dozen. The caller keeps `image` from
        changing meanwhile."""
        until = self.clock.monotonic_ms() + slice_ms
        for _ in self.reconcile(image, changed):
            if self.clock.monotonic_ms() >= until:
                await asyncio.sleep(0)
                until = self.clock.monotonic_ms() + slice_ms

    def reconcile(self, image: MetadataImage,
                  changed: set[tuple[str, int]] | None) -> Iterator[None]:
        """Take on `image`, one step per partition. `changed`: the partitions a change
        carried, when it carried nothing but partitions (an ISR or leader change); only
        those are looked at then. A walk over every partition at every change was the
        brokers' main cost after a 5 + 100 cluster's 1000-partition create: each ISR
        change cost every broker a pass over all 1000."""
        full = changed is None or not self.storage.swept
        if full:
            hosted = self._hosted(image)
            keys = hosted | {*self.partitions, *self.storage.offline}
        else:
            keys = set(changed)
        for key in sorted(keys):
            p = image.partition(*key)
            if p is None or self.broker_id not in p["replicas"]:
                self._drop(key)
            else:
                self._take_on(key, p, image, self.clock.monotonic_ms())
            yield
        broker_epoch = self.role.broker_epoch
        if full and not self.storage.swept and broker_epoch is not None and \
                image.offset >= broker_epoch:
            self.storage.sweep(image, hosted)

    def _hosted(self, image: MetadataImage) -> set[tuple[str, int]]:
        return {(p["topic"], p["partition"]) for p in image.partitions.values()
                if self.broker_id in p["replicas"]}

    def _take_on(self, key: tuple[str, int], p: dict, image: MetadataImage,
                 now: int) -> None:
        """A partition hosted here: open it if new, then lead or follow as `p` says."""
        if key in self.storage.offline:
            return  # retried on its own schedule
        part = self.partitions.get(key)
        if part is None:
            part = self.storage.open(key, image)
            if part is None:
                return
            self.partitions[key] = part
        self._follow(part, p, image, now)

    def _drop(self, key: tuple[str, int]) -> None:
        """A partition no longer hosted here (topic removed or replica moved)."""
        part = self.partitions.pop(key, None)
        if part is not None:
            self.fetchers.remove(part)
            part.retire()
            part.log.delete()
            log.info("%s: deleted (topic removed or replica moved)", part.name)
        if key in self.storage.offline:
            self.storage.forget_offline(key)

    def _follow(self, part: Partition, p: dict, image: MetadataImage, now: int) -> None:
        """Take on the partition's committed state: lead, or follow its leader."""
        try:
            part.apply_metadata(p, now)  # becoming leader writes its epoch
        except STORAGE_ERRORS as e:
            self.storage.fail(part, e)
            return
        leader = image.brokers.get(p["leader"])
        if part.role == FOLLOWER and leader is not None:
            self.fetchers.assign(part, p["leader"], leader["endpoint"])
        else:
            self.fetchers.remove(part)

    def forget(self, part: Partition) -> None:
        """Stop serving `part` (it went offline); its data stays."""
        self.partitions.pop((part.topic, part.partition), None)
        self.fetchers.remove(part)

    @contextmanager
    def _storage_guard(self, part: Partition):
        """A storage error under here takes `part` offline and answers
        KAFKA_STORAGE_ERROR instead of escaping."""
        try:
            yield
        except STORAGE_ERRORS as e:
            self.storage.fail(part, e)
            raise KafkaError("KAFKA_STORAGE_ERROR", f"{part.name} on broker {self.broker_id}: "
                                                    f"{type(e).__name__}: {e}") from None

    def apply_fetch(self, part: Partition, fetch_offset: int, result: dict, data) -> str:
        """A follower applies its leader's answer (fetcher.py)."""
        try:
            with self._storage_guard(part):
                return part.apply_fetch(fetch_offset, result, data)
        except KafkaError:
            return BACK_OFF

    def _retry_offline(self) -> None:
        now = self.clock.monotonic_ms()
        for part, p in self.storage.retry(self.role.image, self.role.broker_epoch):
            self.partitions[(part.topic, part.partition)] = part
            self._follow(part, p, self.role.image, now)

    def topic_config(self, topic: str, image: MetadataImage | None = None) -> dict[str, Any]:
        image = image or self.role.image
        overrides = image.topics[topic]["configs"] if topic in image.topics else {}
        return effective(self.config, overrides)

    def log_config(self, image: MetadataImage, topic: str) -> LogConfig:
        c = self.topic_config(topic, image)
        return LogConfig(segment_bytes=c["segment.bytes"], segment_ms=c["segment.ms"],
                         retention_ms=c["retention.ms"], retention_bytes=c["retention.bytes"],
                         index_interval_bytes=self.config.topics.index_interval_bytes,
                         cleanup_policy=c["cleanup.policy"],
                         delete_retention_ms=c["delete.retention.ms"])

    def partition(self, topic: str, partition: int) -> Partition:
        part = self.partitions.get((topic, partition))
        if part is not None:
            return part
        if (topic, partition) in self.storage.offline:
            raise KafkaError("KAFKA_STORAGE_ERROR",
                             f"{topic}-{partition} is offline on broker {self.broker_id}: "
                             f"{self.storage.offline[(topic, partition)]}")
        if topic not in self.role.image.topics:
            raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION", f"unknown topic {topic!r}")
        committed = self.role.image.partition(topic, partition)
        if committed is None:
            raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION",
                             f"{topic} has no partition {partition}")
        if self.broker_id in committed["replicas"]:
            raise KafkaError("NOT_LEADER_OR_FOLLOWER",  # retriable, as while it moves
                             f"broker {self.broker_id} is still opening its replica of "
                             f"{topic}-{partition} (the metadata naming it just arrived)")
        raise KafkaError("NOT_LEADER_OR_FOLLOWER",
                         f"broker {self.broker_id} hosts no replica of {topic}-{partition}")

    # -- produce --------------------------------------------------------------------------

    async def produce(self, acks: int, timeout_ms: int, items: list[tuple[str, int, Any]],
                      internal: bool = False) -> list[dict[str, Any]]:
        """Append batches as leader; `internal` is the broker's own writes (markers)."""
        results: list[dict[str, Any]] = []
        waiting: list[tuple[int, Partition, BatchHeader, int, int]] = []
        for topic, index, batch in items:
            result = {"topic": topic, "partition": index, "error": "NONE"}
            results.append(result)
            try:
                part = self.partition(topic, index)
                min_isr = self.topic_config(topic)["min.insync.replicas"]
                with self._storage_guard(part):
                    header = part.append_as_leader(batch, acks, min_isr, internal)
            except KafkaError as e:
                result.update(error=e.error.name, message=e.message)
                continue
            result.update(base_offset=header.base_offset,
                          log_start_offset=part.log.log_start_offset)
            if acks == -1:
                written_in = part.log.epochs.epoch_at(header.base_offset)
                waiting.append((len(results) - 1, part, header, written_in, min_isr))
        if waiting:
            await self._await_acks(results, waiting, timeout_ms)
        return results

    async def _await_acks(self, results, waiting, timeout_ms: int) -> None:
        deadline = self.clock.monotonic_ms() + timeout_ms
        while waiting:
            still = []
            for entry in waiting:
                i, part, header, written_in, min_isr = entry
                try:
                    if not part.acked(header.base_offset, header.next_offset, written_in,
                                      min_isr):
                        still.append(entry)
                except KafkaError as e:
                    results[i].update(error=e.error.name, message=e.message)
            waiting = still
            left_ms = deadline - self.clock.monotonic_ms()
            if not waiting:
                return
            if left_ms <= 0:
                for i, part, _, _, _ in waiting:
                    results[i].update(error="REQUEST_TIMED_OUT",
                                      message=f"not replicated to the ISR {part.isr} in "
                                              f"{timeout_ms} ms")
                return
            await wait_any([p for _, p, _, _, _ in waiting], left_ms)

    # -- fetch ----------------------------------------------------------------------------

    async def fetch(self, body: dict[str, Any]) -> tuple[list[dict], list]:
        replica_id = int(body.get("replica_id", -1))
        read_committed = body.get("isolation_level") == READ_COMMITTED
        # Already cut to its bound by the request check (BrokerApi._bounded_fetch): one
        # place, since two disagreeing bounds once cut followers to the consumers' wait.
        max_wait_ms = int(body.get("max_wait_ms", 0))
        min_bytes = int(body.get("min_bytes", 1))
        max_bytes = int(body.get("max_bytes", 50 * 1024 * 1024))
        wanted = body.get("partitions", [])
        deadline = self.clock.monotonic_ms() + max_wait_ms
        while True:
            results, payloads, size, stop = self._read_all(wanted, replica_id, max_bytes,
                                                             read_committed)
            left_ms = deadline - self.clock.monotonic_ms()
            answer = stop or size >= min_bytes or left_ms <= 0 or \
                (replica_id >= 0 and hw_news(wanted, results))
            parts = [] if answer else [
                p for p in (self.partitions.get((w["topic"], w["partition"])) for w in wanted)
                if p is not None]
            if not parts:
                return (news_only(wanted, results) if replica_id >= 0 else results), payloads
            if replica_id < 0:
                await wait_any(parts, left_ms)
                continue
            await self._hold_replica_fetch(parts, replica_id, left_ms)

    async def _hold_replica_fetch(self, parts: list[Partition], follower: int,
                                  timeout_ms: int) -> None:
        """Wait as wait_any, the follower counted as caught up where it waits at the
        log end (broker/replica.py): so an idle follower can fetch rarely."""
        parked = [p.leader_state for p in parts
                  if p.leader_state is not None and p.leader_state.park(follower)]
        try:
            await wait_any(parts, timeout_ms)
        finally:
            now = self.clock.monotonic_ms()
            for state in parked:  # the states it parked in, even if leadership moved since
                state.unpark(follower, now)

    def _read_all(self, wanted, replica_id: int, max_bytes: int, read_committed: bool):
        results, payloads = [], []
        size = 0
        stop = False  # an error or a divergence: answer at once
        now = self.clock.monotonic_ms()
        for w in wanted:
            result = {"topic": w["topic"], "partition": w["partition"], "error": "NONE"}
            results.append(result)
            try:
                data = self._read_one(w, replica_id, result, now, max_bytes - size,
                                      read_committed)
            except KafkaError as e:
                result.update(error=e.error.name, message=e.message)
                stop = True
                continue
            if "diverging_epoch" in result:
                stop = True
            if data:
                result["records"] = len(payloads)
                payloads.append(data)
                size += len(data)
        return results, payloads, size, stop

    def _read_one(self, w, replica_id: int, result: dict, now_ms: int, budget: int,
                  read_committed: bool) -> bytes:
        part = self.partition(w["topic"], w["partition"])
        max_bytes = min(int(w.get("partition_max_bytes", 1024 * 1024)), budget)
        with self._storage_guard(part):
            fields, data = part.read(int(w["fetch_offset"]), max_bytes, replica_id,
                                     int(w.get("last_fetched_epoch", -1)), now_ms,
                                     w.get("current_leader_epoch"), read_committed)
        result.update(fields)
        return data

    # -- list offsets ---------------------------------------------------------------------

    def list_offset(self, topic: str, index: int, timestamp: int,
                    leader_epoch: int | None, read_committed: bool = False) -> dict[str, Any]:
        part = self.partition(topic, index)
        part.check_leader(leader_epoch)
        visible = part.last_stable_offset if read_committed else part.hw
        plog = part.log
        if timestamp == EARLIEST:
            found, ts = plog.log_start_offset, -1
        elif timestamp == LATEST:
            found, ts = visible, -1
        elif timestamp == MAX_TIMESTAMP:
            with self._storage_guard(part):  # these read batches
                found, ts = plog.offset_of_max_timestamp(visible)
        else:
            with self._storage_guard(part):
                found = plog.offset_for_timestamp(timestamp)
            ts = timestamp
            if found is None or found >= visible:
                return {"offset": -1, "timestamp": -1, "leader_epoch": -1}
        out = {"offset": found, "timestamp": ts,
               "leader_epoch": plog.epochs.epoch_at(max(found - 1, plog.log_start_offset)
                                                    if timestamp == LATEST else found)}
        if timestamp == LATEST:
            out["log_end_offset"] = plog.log_end_offset
        return out

    # -- background work ------------------------------------------------------------------

    def _checkpoint_hw(self) -> None:
        """Written when a high watermark moved: an idle broker touches no file, and does
        not even encode one (it encoded every replica's HW to JSON each second)."""
        seen = (list(self.partitions), [part.hw for part in self.partitions.values()])
        if seen == self._hw_seen:
            return
        hws = {f"{t}/{p}": part.hw for (t, p), part in self.partitions.items()}
        self.checkpointed_hw.update(hws)
        data = json.dumps(hws, sort_keys=True).encode()
        if data == self._hw_written:
            self._hw_seen = seen
            return
        try:
            self.node.disk.write_file(self.data_dir / HW_CHECKPOINT_FILE, data)
            self._hw_written = data
            self._hw_seen = seen
        except OSError as e:  # a missed checkpoint only costs a lower HW after a crash
            self.repeats.log(logging.WARNING, "hw", "high watermarks not checkpointed: %s", e)

    def _read_hw_checkpoint(self) -> dict[str, int]:
        try:
            return json.loads((self.data_dir / HW_CHECKPOINT_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _clean_logs(self) -> None:
        now = self.clock.wall_ms()
        for part in list(self.partitions.values()):
            try:
                part.log.apply_retention(now)
                compact(part.log, now)
            except STORAGE_ERRORS as e:  # the live log is untouched: try again next time
                self.repeats.log(logging.WARNING, ("clean", part.name), "%s: compaction "
                                 "failed: %s", part.name, e)

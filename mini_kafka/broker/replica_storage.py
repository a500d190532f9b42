"""This broker's partition directories: opening replicas, taking one offline on a storage
error and back when its disk works again, and removing what no partition owns.

- A storage error (a full disk, an unreadable or corrupt file) takes that one replica
  offline on this broker, as Kafka takes a log directory offline: its requests get
  KAFKA_STORAGE_ERROR, the heartbeat tells the controller (which moves its leadership
  and ISR seat to healthy replicas), and every storage_retry_interval_ms, once a probe
  write succeeds, it is opened again — recovering as after a crash — and rejoins as a
  follower. Its data stays where it is.
- A replica whose log lost data when opened (corruption cut it) is damaged: reported
  until the controller has recorded it, so it is not trusted to lead on what it lost.
- A directory records its topic's id (`partition.metadata`, as in Kafka): data left by
  an earlier topic of the same name (deleted while this broker was away) is removed,
  not served as the new topic's. Once the metadata is at least as new as this broker's
  registration, so every topic it ever held a replica of is known, directories of
  partitions it does not host (their topic deleted while it was down) are removed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

from mini_kafka.broker.log import CorruptSegmentError, PartitionLog
from mini_kafka.broker.log.log import PARTITION_METADATA_FILE
from mini_kafka.broker.partition import Partition
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.metadata import MetadataImage
from mini_kafka.records import CorruptRecordError

log = logging.getLogger("mini_kafka.broker.storage")

# What reading or writing a replica's files can raise when the disk, not the caller, is
# at fault: the replica goes offline on this broker.
STORAGE_ERRORS = (OSError, CorruptSegmentError, CorruptRecordError)
PARTITION_DIR = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")
LOG_FILES = ("*.log", "leader-epoch-checkpoint", PARTITION_METADATA_FILE)


def partition_key(key: tuple[str, int]) -> str:
    return f"{key[0]}/{key[1]}"


class ReplicaStorage:
    def __init__(self, manager):
        self.manager = manager
        self.broker_id = manager.broker_id
        self.data_dir: Path = manager.data_dir
        self.disk = manager.node.disk
        self.clock = manager.clock
        self.retry_ms = manager.config.timeouts.storage_retry_interval_ms
        self.offline: dict[tuple[str, int], str] = {}  # key -> why
        self.damaged: dict[tuple[str, int], str] = {}  # key -> what was lost
        # Set when the report changes: the heartbeat then goes at once, not at its turn.
        self.news = asyncio.Event()
        self.swept = False
        self.repeats = RepeatLimitedLog(log, manager.config.limits.log_repeat_interval_ms,
                                        manager.clock)

    def directory(self, key: tuple[str, int]) -> Path:
        return self.data_dir / f"{key[0]}-{key[1]}"

    # -- opening --------------------------------------------------------------------------

    def open(self, key: tuple[str, int], image: MetadataImage) -> Partition | None:
        """The replica, opened (created if new); None when storage fails it (offline)."""
        directory = self.directory(key)
        topic_id = image.topics[key[0]].get("topic_id")
        try:
            held = _read_topic_id(directory)
            if held is not None and topic_id is not None and held != topic_id:
                log.warning("%s holds topic id %s, but %s is now topic id %s (deleted and "
                            "created again while this broker was away): removing the old "
                            "data", directory.name, held, key[0], topic_id)
                shutil.rmtree(directory)
                held = None
            plog = PartitionLog(directory, self.manager.log_config(image, key[0]), self.clock,
                                self.disk, topic_id if held is None else None)
            try:
                hw = self.manager.checkpointed_hw.get(partition_key(key), 0)
                part = Partition(key[0], key[1], plog, self.broker_id, hw)
            except BaseException:
                plog.close_unclean()
                raise
        except STORAGE_ERRORS as e:
            self._offline(key, e)
            return None
        if plog.damage:
            self.damaged[key] = plog.damage
            self.news.set()
            log.error("%s: lost data to corruption (%s); it fetches it again from the "
                      "leader, and the controller is told not to trust it to lead",
                      part.name, plog.damage)
        return part

    # -- going offline and back -----------------------------------------------------------

    def fail(self, part: Partition, error: BaseException) -> None:
        """A storage error while serving `part`: offline on this broker from now on."""
        key = (part.topic, part.partition)
        self.manager.forget(part)
        part.go_offline(f"{type(error).__name__}: {error}")
        self._offline(key, error)

    def _offline(self, key: tuple[str, int], error: BaseException) -> None:
        first = key not in self.offline
        self.offline[key] = f"{type(error).__name__}: {error}"
        if first:
            self.news.set()
            log.error("%s-%d: offline on this broker (KAFKA_STORAGE_ERROR): %s; the "
                      "controller moves its leadership and ISR seat to other replicas; "
                      "trying again every %d ms", key[0], key[1], self.offline[key],
                      self.retry_ms)

    def retry(self, image: MetadataImage,
              broker_epoch: int | None) -> list[tuple[Partition, dict]]:
        """Open again what is offline, if writes work again; returns what came back.

        Only once the controller has recorded it offline (for this registration): until
        then the metadata may still name this broker leader in the epoch it led when it
        failed, and a replica opened again — shortened, if corruption was cut — would
        take that leadership back and have its followers truncate to it."""
        me = image.brokers.get(self.broker_id)
        recorded = set(me.get("offline", [])) if me and me["epoch"] == broker_epoch \
            else set()
        back = []
        for key in list(self.offline):
            p = image.partition(*key)
            if p is None or self.broker_id not in p["replicas"]:
                self.forget_offline(key)
                continue
            if partition_key(key) not in recorded:
                continue  # the heartbeat reports it; retried after the controller acts
            try:
                self.disk.probe(self.data_dir)
            except OSError as e:
                self.repeats.log(logging.WARNING, "probe", "storage still failing: %s", e)
                return back
            reason = self.offline.pop(key)
            part = self.open(key, image)
            if part is None:
                self.repeats.log(logging.WARNING, key, "%s-%d: still offline: %s", key[0],
                                 key[1], self.offline.get(key, reason))
                continue
            self.repeats.forget(key)
            log.info("%s: back online on this broker after: %s", part.name, reason)
            back.append((part, p))
        return back

    def forget_offline(self, key: tuple[str, int]) -> None:
        """An offline replica this broker no longer hosts: its data goes too."""
        self.offline.pop(key, None)
        self.damaged.pop(key, None)
        shutil.rmtree(self.directory(key), ignore_errors=True)
        log.info("%s-%d: deleted while offline (topic removed)", *key)

    # -- what the controller is told ------------------------------------------------------

    def report(self, image: MetadataImage, broker_epoch: int | None) -> dict[str, list]:
        """The heartbeat's offline and damaged replicas. A damage the controller has
        recorded for this registration is not reported again."""
        me = image.brokers.get(self.broker_id)
        recorded = set(me.get("damaged", [])) if me and me["epoch"] == broker_epoch else set()
        for key in [k for k in self.damaged if partition_key(k) in recorded]:
            del self.damaged[key]
        return {"offline_replicas": sorted(partition_key(k) for k in self.offline),
                "damaged_replicas": sorted(partition_key(k) for k in self.damaged)}

    # -- directories nobody owns ----------------------------------------------------------

    def sweep(self, image: MetadataImage, hosted: set[tuple[str, int]]) -> None:
        """Remove partition directories this broker does not host. Call it only with
        metadata at least as new as this broker's registration."""
        self.swept = True
        if not self.data_dir.is_dir():
            return  # nothing written yet: each replica makes its directory with its data
        for directory in sorted(self.data_dir.iterdir()):
            match = PARTITION_DIR.match(directory.name)
            # An empty one (an older version's replica never written, or a crash before
            # a first batch went down) has nothing to lose by removing it.
            if not match or not directory.is_dir() or not any(
                    next(directory.glob(pattern), None) for pattern in LOG_FILES) and \
                    next(directory.iterdir(), None) is not None:
                continue
            key = (match["topic"], int(match["partition"]))
            if key in hosted or key in self.offline:
                continue
            why = "its topic no longer exists" if key[0] not in image.topics else \
                "this broker holds no replica of it"
            log.info("removing %s: %s", directory.name, why)
            shutil.rmtree(directory, ignore_errors=True)


def _read_topic_id(directory: Path) -> str | None:
    """The topic id in Kafka's partition.metadata ("version: 0", "topic_id: <id>")."""
    try:
        text = (directory / PARTITION_METADATA_FILE).read_text()
    except FileNotFoundError:
        return None
    # Whole lines only: the file is written in place (Disk.write_new_file), and a crash
    # mid-write must not turn a torn id into another topic's, whose data would go.
    for line in text.split("\n")[:-1]:
        name, _, value = line.partition(":")
        if name.strip() == "topic_id" and value.strip():
            return value.strip()
    return None

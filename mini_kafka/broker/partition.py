"""One partition replica on this broker: its log, its role, and what waits on it.

As leader it assigns offsets, checks idempotent producers, tracks followers (LeaderState)
and advances the high watermark; as follower it appends what it fetched, truncating a
divergent tail by leader epoch (KIP-101/279/320), never to a stale high watermark.
Anyone waiting for the partition to change (an acks=all produce, a long-poll fetch)
waits on `changed`, which is replaced each time it fires.
"""

from __future__ import annotations

import asyncio
import logging

from mini_kafka import records
from mini_kafka.broker import state_snapshot
from mini_kafka.broker.log import PartitionLog
from mini_kafka.broker.producer_state import ProducerStateTable
from mini_kafka.broker.replica import LeaderState
from mini_kafka.broker.txn_index import TransactionIndex
from mini_kafka.errors import KafkaError
from mini_kafka.records import BatchHeader, CorruptRecordError

log = logging.getLogger("mini_kafka.broker.partition")

LEADER, FOLLOWER, OFFLINE = "leader", "follower", "offline"
# What a follower's fetcher does after applying an answer (Partition.apply_fetch).
FETCH_AGAIN, BACK_OFF, STALLED = "fetch again", "back off", "stalled"


class Partition:
    def __init__(self, topic: str, partition: int, plog: PartitionLog, broker_id: int,
                 high_watermark: int):
        self.topic = topic
        self.partition = partition
        self.log = plog
        self.broker_id = broker_id
        self.role = FOLLOWER
        self.leader = -1
        self.leader_epoch = -1
        self.partition_epoch = -1
        self.replicas: list[int] = []
        self.isr: list[int] = []
        self.hw = min(high_watermark, plog.log_end_offset)
        self.leader_state: LeaderState | None = None
        self.offline_reason: str | None = None
        self.retired = False  # no longer hosted on this broker (see retire)
        loaded = None if plog.fresh else state_snapshot.take(
            plog.directory, plog.log_end_offset, trusted=plog.was_clean_shutdown)
        if loaded is not None:
            self.producers, self.txns = loaded
        else:
            self._rebuild_state()
        # Long polls waiting for this partition to change (data, HW, role): each fetch or
        # acks=all produce registers one future across all its partitions.
        self._waiters: set[asyncio.Future] = set()

    def _rebuild_state(self) -> None:
        """Producer and transaction state from the log itself (on open, after a cut)."""
        self.producers = ProducerStateTable()
        self.txns = TransactionIndex()
        for header in self.log.headers():
            self._track(header, self.log.read(header.base_offset, 1)
                        if header.is_control else None)

    def close(self) -> None:
        """Clean shutdown: save the producer and transaction state, then close the log
        (whose clean-shutdown marker is what makes the saved state trusted)."""
        try:
            if self.log.on_disk:  # a replica never written has no state and no directory
                state_snapshot.save(self.log.directory, self.log.log_end_offset,
                                    self.producers, self.txns, self.log.disk)
        except OSError as e:  # the next start rebuilds it from the log
            log.warning("%s: producer state not saved: %s", self.name, e)
        self.log.close()

    def go_offline(self, reason: str) -> None:
        """A storage error: this replica serves nothing until it is opened again."""
        self.role = OFFLINE
        self.offline_reason = reason
        self.leader_state = None
        self.log.close_unclean()
        self.signal()  # waiting produces and fetches find out at once

    def retire(self) -> None:
        """No longer hosted here (topic deleted, replica moved): waiting writes end."""
        self.role = FOLLOWER
        self.leader_state = None
        self.retired = True
        self.signal()

    def _track(self, header: BatchHeader, data=None, pos: int = 0) -> None:
        """Bookkeeping for one appended batch; `data` holds it when it is a marker."""
        self.producers.record(header)
        if header.is_transactional:
            commits = records.marker_is_commit(data, pos) if header.is_control else None
            self.txns.on_batch(header, commits)

    @property
    def last_stable_offset(self) -> int:
        return self.txns.last_stable_offset(self.hw)

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    def signal(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def add_waiter(self, waiter: asyncio.Future) -> None:
        self._waiters.add(waiter)

    def remove_waiter(self, waiter: asyncio.Future) -> None:
        self._waiters.discard(waiter)

    # -- role changes (from committed metadata) -------------------------------------------

    def apply_metadata(self, p: dict, now_ms: int) -> None:
        """Follow the committed partition state: become leader or follower on a new leader
        epoch; as leader, adopt a newly committed ISR."""
        if (p["leader_epoch"], p["partition_epoch"]) < (self.leader_epoch,
                                                         self.partition_epoch):
            return  # older than what we already follow (a lagging coordinator's view)
        new_epoch = p["leader_epoch"] != self.leader_epoch
        self.replicas, self.isr = list(p["replicas"]), list(p["isr"])
        self.leader, self.partition_epoch = p["leader"], p["partition_epoch"]
        if p["leader"] == self.broker_id:
            if new_epoch or self.role != LEADER:
                self._become_leader(p, now_ms)
            elif self.leader_state.on_isr_committed(p["isr"], p["partition_epoch"]):
                self.hw = self.leader_state.hw
        else:
            if self.role == LEADER:
                log.info("%s: no longer leader (epoch %d -> %d, leader %d)", self.name,
                         self.leader_epoch, p["leader_epoch"], p["leader"])
            self.role = FOLLOWER
            self.leader_state = None
        self.leader_epoch = p["leader_epoch"]
        self.signal()  # waiters re-check: leadership or ISR may have changed under them

    def _become_leader(self, p: dict, now_ms: int) -> None:
        # The epoch goes into the leader-epoch cache with its first batch (append_as_leader),
        # not now. Until then it holds no offset, and what the cache answers a follower
        # (the end of the follower's latest epoch, one with records) is the same without
        # it: that end is the log end either way. A leadership that writes nothing (an
        # idle partition, or one moved on again after a mass failover) then costs no
        # checkpoint file.
        self.role = LEADER
        self.leader_state = LeaderState(self.broker_id, p["leader_epoch"], p["partition_epoch"],
                                        p["replicas"], p["isr"], self.log.log_end_offset,
                                        self.hw, now_ms)
        self.hw = self.leader_state.hw
        log.info("%s: leader in epoch %d at offset %d (HW %d, ISR %s)", self.name,
                 p["leader_epoch"], self.log.log_end_offset, self.hw, p["isr"])

    # -- leader side ----------------------------------------------------------------------

    def check_leader(self, leader_epoch: int | None = None) -> LeaderState:
        if self.role == OFFLINE:
            raise KafkaError("KAFKA_STORAGE_ERROR", f"{self.name} is offline on broker "
                                                    f"{self.broker_id}: {self.offline_reason}")
        if self.role != LEADER or self.leader_state is None:
            raise KafkaError("NOT_LEADER_OR_FOLLOWER",
                             f"broker {self.broker_id} does not lead {self.name} "
                             f"(leader: {self.leader})")
        if leader_epoch is not None and leader_epoch >= 0:
            if leader_epoch < self.leader_epoch:
                raise KafkaError("FENCED_LEADER_EPOCH", f"epoch {leader_epoch} is stale "
                                                        f"({self.name} is at {self.leader_epoch})")
            if leader_epoch > self.leader_epoch:
                raise KafkaError("UNKNOWN_LEADER_EPOCH", f"epoch {leader_epoch} is ahead of "
                                                         f"this broker's {self.leader_epoch}")
        return self.leader_state

    def append_as_leader(self, batch, acks: int, min_insync_replicas: int,
                         internal: bool = False) -> BatchHeader:
        """Append a producer's batch (or find it already appended). Returns the header with
        its offsets; the caller waits for the HW when acks=all. Only the broker itself
        (`internal`) writes transaction markers."""
        state = self.check_leader()
        if acks == -1 and len(self.isr) < min_insync_replicas:
            raise KafkaError("NOT_ENOUGH_REPLICAS",
                             f"{self.name} has {len(self.isr)} in-sync replica(s) {self.isr}; "
                             f"min.insync.replicas is {min_insync_replicas}")
        try:
            header = records.validate_batch(batch)
        except CorruptRecordError as e:
            raise KafkaError("CORRUPT_MESSAGE", str(e)) from None
        if header.is_control and not internal:
            raise KafkaError("INVALID_RECORD", "clients may not write control batches")
        verdict = self.producers.check(header)
        if verdict.action == "error":
            raise KafkaError(verdict.error, verdict.message)
        if verdict.action == "duplicate":
            dup = verdict.duplicate_of
            return header._replace(base_offset=dup.first_offset,
                                   last_offset_delta=dup.last_offset - dup.first_offset)
        try:
            stamped = self.log.append_as_leader(batch, self.leader_epoch)
        except CorruptRecordError as e:
            raise KafkaError("CORRUPT_MESSAGE", str(e)) from None
        self._track(stamped, batch)
        if state.on_local_append(self.log.log_end_offset):
            self.hw = state.hw
        self.signal()
        return stamped

    def on_follower_fetch(self, follower: int, fetch_offset: int, now_ms: int) -> None:
        state = self.check_leader()
        if state.on_follower_fetch(follower, fetch_offset, now_ms):
            self.hw = state.hw
            self.signal()

    def acked(self, base_offset: int, next_offset: int, written_in: int,
              min_insync_replicas: int) -> bool:
        """Whether an acks=all write of [base_offset, next_offset), appended in leader epoch
        `written_in`, is committed; raises once it can no longer be.

        A change of leader does not end the wait while this replica still holds the write:
        the new leader may hold it too, and then it commits. Answering
        NOT_LEADER_OR_FOLLOWER for it, as Kafka does, tells the producer it was not
        written; librdkafka then re-sends it under new sequence numbers after any epoch
        bump, and it is stored twice. So the write is reported lost only once it is cut
        from this log (truncated, or overwritten by another epoch), and otherwise
        committed when the high watermark this replica follows passes it, or timed out
        (possibly written) by the caller."""
        if self.role == OFFLINE:
            self.check_leader()  # raises KAFKA_STORAGE_ERROR
        if self.retired:
            raise KafkaError("NOT_LEADER_OR_FOLLOWER",
                             f"{self.name} is no longer hosted on broker {self.broker_id}")
        if self.log.log_end_offset < next_offset or \
                self.log.epochs.epoch_at(base_offset) != written_in:
            raise KafkaError("NOT_LEADER_OR_FOLLOWER",
                             f"{self.name}: the write at offset {base_offset} was cut from "
                             f"broker {self.broker_id}'s log under leader {self.leader}")
        if self.hw < next_offset:
            return False
        if len(self.isr) < min_insync_replicas:
            raise KafkaError("NOT_ENOUGH_REPLICAS_AFTER_APPEND",
                             f"written, but the ISR {self.isr} shrank below "
                             f"min.insync.replicas {min_insync_replicas}")
        return True

    def read(self, offset: int, max_bytes: int, replica_id: int, last_fetched_epoch: int,
             now_ms: int, leader_epoch: int | None = None, read_committed: bool = False
             ) -> tuple[dict, bytes]:
        """Serve a fetch as leader (in `leader_epoch`, if the fetcher names one): followers
        read to the log end, and learn where their log diverges from ours (KIP-320);
        consumers read to the high watermark — read_committed ones to the last stable
        offset, with the aborted transactions in that range. Returns (result fields,
        record bytes); OFFSET_OUT_OF_RANGE raises."""
        self.check_leader(leader_epoch)
        plog = self.log
        fields = {"high_watermark": self.hw, "log_start_offset": plog.log_start_offset,
                  "log_end_offset": plog.log_end_offset}
        if replica_id >= 0:
            if last_fetched_epoch >= 0:
                epoch, end = plog.end_offset_for_epoch(last_fetched_epoch)
                if epoch != last_fetched_epoch or end < offset:
                    fields["diverging_epoch"] = {"epoch": epoch, "end_offset": end}
                    return fields, b""
            if plog.log_start_offset <= offset <= plog.log_end_offset:
                self.on_follower_fetch(replica_id, offset, now_ms)
                fields["high_watermark"] = self.hw
        upto = None if replica_id >= 0 else self.hw
        if replica_id < 0:  # Kafka's consumers get the LSO whatever their isolation
            fields["last_stable_offset"] = self.last_stable_offset
        if read_committed and replica_id < 0:
            upto = fields["last_stable_offset"]
            fields["aborted_transactions"] = [[a.producer_id, a.first_offset] for a in
                                              self.txns.aborted_between(offset, upto)]
        if max_bytes <= 0:
            return fields, b""
        return fields, plog.read(offset, max_bytes, upto)

    # -- follower side --------------------------------------------------------------------

    def apply_fetch(self, fetch_offset: int, result: dict, data) -> str:
        """Apply the leader's answer to our fetch from `fetch_offset`. Returns FETCH_AGAIN,
        BACK_OFF (an error that only newer metadata can resolve) or STALLED (a divergence
        that changed nothing: asking again at once would only get the same answer)."""
        if fetch_offset != self.log.log_end_offset:
            return FETCH_AGAIN  # an answer to an older fetch: our log has moved since
        error = result.get("error", "NONE")
        if error == "OFFSET_OUT_OF_RANGE":
            if self.log.log_end_offset < result["log_start_offset"]:
                log.warning("%s: behind the leader's log start %d: starting over there",
                            self.name, result["log_start_offset"])
                self.restart_at(result["log_start_offset"])
            else:
                self.truncate_to(result["log_end_offset"])
            return FETCH_AGAIN
        if error != "NONE":
            return BACK_OFF
        diverging = result.get("diverging_epoch")
        if diverging:
            before = (self.log.log_end_offset, self.log.epochs.latest_epoch)
            self.truncate_for_divergence(diverging["epoch"], diverging["end_offset"],
                                         result.get("log_start_offset", 0))
            if (self.log.log_end_offset, self.log.epochs.latest_epoch) == before:
                return STALLED
            return FETCH_AGAIN
        try:
            self.append_as_follower(data or b"", result["high_watermark"])
        except CorruptRecordError as e:
            log.error("%s: bad data from the leader: %s", self.name, e)
            return BACK_OFF
        return FETCH_AGAIN

    def append_as_follower(self, data, leader_hw: int) -> None:
        appended = self.log.append_as_follower(data)
        if appended:
            where = {h.base_offset: pos for pos, h in records.iter_headers(data)
                     if h.is_control}
            for header in appended:
                self._track(header, data, where.get(header.base_offset, 0))
        self._follow_hw(leader_hw)

    def _follow_hw(self, leader_hw: int) -> None:
        hw = min(leader_hw, self.log.log_end_offset)
        if hw > self.hw:
            self.hw = hw
            self.signal()

    def truncate_for_divergence(self, leader_epoch: int, leader_end_offset: int,
                                leader_log_start: int) -> None:
        """The leader says our log diverges after its `leader_epoch`, which ended at
        `leader_end_offset` on the leader. Cut our tail to the last common point; after
        the cut our latest epoch is at most `leader_epoch`, so every round of this
        exchange moves to an older epoch and it ends (KIP-279)."""
        if leader_epoch < 0:
            # The leader holds no epoch as old as our latest: its log starts later than
            # anything we could share with it (retention moved it on). Begin at its start.
            log.warning("%s: the leader knows none of our epochs: starting over at its "
                        "log start %d", self.name, leader_log_start)
            self.restart_at(leader_log_start)
            return
        our_epoch, our_end = self.log.end_offset_for_epoch(leader_epoch)
        if our_epoch < 0:
            # All we hold is from epochs after the leader's: nothing past the start of our
            # first epoch can be common.
            first = self.log.epochs.first_start_offset
            target = min(first if first >= 0 else self.log.log_start_offset,
                         leader_end_offset)
        elif our_epoch != leader_epoch:
            target = our_end
        else:
            target = min(leader_end_offset, our_end)
        self.truncate_to(target)

    def truncate_to(self, offset: int) -> None:
        before = self.log.log_end_offset
        self.log.truncate_to(offset)
        self.hw = min(self.hw, self.log.log_end_offset)
        if self.log.log_end_offset != before:
            self._rebuild_state()
            log.warning("%s: truncated from %d to %d (divergent tail)", self.name, before,
                        self.log.log_end_offset)
            self.signal()  # acks=all writes waiting on the cut tail learn they are lost

    def restart_at(self, offset: int) -> None:
        """The leader's log now starts past ours: start over, empty, at its start."""
        self.log.truncate_fully_and_start_at(offset)
        self._rebuild_state()
        self.hw = offset
        self.signal()

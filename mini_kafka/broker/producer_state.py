"""Idempotent producers on one partition — pure (KIP-98).

For each producer id: its epoch and its last 5 batches (first and last sequence, first
and last offset). A batch is accepted only with the next sequence; a retry of one of the
last 5 is answered with the offsets it got the first time; anything else is a gap.
Followers apply the same bookkeeping to the batches they copy, so a new leader knows
every producer's position already. Sequences wrap at 2**31, as in Kafka.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from mini_kafka.records import NO_PRODUCER_ID, NO_SEQUENCE, BatchHeader

BATCHES_KEPT = 5
SEQUENCE_MODULUS = 2**31


@dataclass(frozen=True)
class BatchRecord:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


@dataclass
class ProducerEntry:
    epoch: int
    batches: deque = field(default_factory=lambda: deque(maxlen=BATCHES_KEPT))

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE


@dataclass(frozen=True)
class Verdict:
    """What to do with an incoming batch: append it, answer with old offsets, or refuse."""
    action: str  # "append", "duplicate", "error"
    error: str = "NONE"
    message: str = ""
    duplicate_of: BatchRecord | None = None


APPEND = Verdict("append")


class ProducerStateTable:
    def __init__(self):
        self.producers: dict[int, ProducerEntry] = {}

    def check(self, header: BatchHeader) -> Verdict:
        if header.producer_id == NO_PRODUCER_ID:
            return APPEND  # not idempotent: nothing to check
        entry = self.producers.get(header.producer_id)
        seq, epoch = header.base_sequence, header.producer_epoch
        if entry is not None and epoch < entry.epoch:
            return Verdict("error", "INVALID_PRODUCER_EPOCH",
                           f"epoch {epoch} is older than the producer's {entry.epoch}")
        if seq == NO_SEQUENCE:
            # Written by a coordinator for a producer (a marker, transactional offsets):
            # fenced by epoch only, with no sequence of its own.
            return APPEND
        if entry is None or epoch > entry.epoch:
            if seq != 0:
                return Verdict("error", "OUT_OF_ORDER_SEQUENCE_NUMBER",
                               f"a new producer (epoch) must start at sequence 0, not {seq}")
            return APPEND
        for batch in entry.batches:
            if batch.first_seq == seq and batch.last_seq == header.last_sequence:
                return Verdict("duplicate", duplicate_of=batch)
        expected = (entry.last_seq + 1) % SEQUENCE_MODULUS
        if seq != expected:
            return Verdict("error", "OUT_OF_ORDER_SEQUENCE_NUMBER",
                           f"sequence {seq} does not follow {entry.last_seq} "
                           f"(expected {expected})")
        return APPEND

    def record(self, header: BatchHeader) -> None:
        """A batch was appended (by us as leader, or copied as a follower)."""
        if header.producer_id == NO_PRODUCER_ID:
            return
        entry = self.producers.get(header.producer_id)
        if entry is None or header.producer_epoch > entry.epoch:
            entry = ProducerEntry(header.producer_epoch)  # a bumped epoch fences the old
            self.producers[header.producer_id] = entry
        if header.is_control or header.base_sequence == NO_SEQUENCE:
            return
        entry.batches.append(BatchRecord(header.base_sequence, header.last_sequence,
                                         header.base_offset, header.last_offset))

    def truncate_to(self, offset: int) -> None:
        """The log was cut at `offset`: forget batches at or past it."""
        for pid in list(self.producers):
            entry = self.producers[pid]
            kept = [b for b in entry.batches if b.last_offset < offset]
            if kept:
                entry.batches = deque(kept, maxlen=BATCHES_KEPT)
            else:
                del self.producers[pid]

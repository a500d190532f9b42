"""The transaction coordinator's rules — pure (Kafka's TransactionMetadata, KIP-98).

A transactional id maps to one producer id and its epoch, and to at most one transaction
at a time:

    Empty -> Ongoing (partitions added) -> PrepareCommit | PrepareAbort
          -> CompleteCommit | CompleteAbort (markers written) -> Ongoing ...

Each function checks a request against the current metadata and returns the metadata to
persist next (the shell writes it to __transaction_state before answering), or raises
KafkaError with Kafka's error. Nothing here mutates its input.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mini_kafka.errors import KafkaError

EMPTY, ONGOING = "Empty", "Ongoing"
PREPARE_COMMIT, PREPARE_ABORT = "PrepareCommit", "PrepareAbort"
COMPLETE_COMMIT, COMPLETE_ABORT = "CompleteCommit", "CompleteAbort"
PREPARED = {PREPARE_COMMIT, PREPARE_ABORT}
EPOCH_MAX = 32767  # int16, as in Kafka


@dataclass(frozen=True)
class TxnMeta:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: str = EMPTY
    partitions: frozenset = field(default_factory=frozenset)  # {(topic, partition)}
    started_ms: int = -1  # wall clock when the transaction began, for its timeout

    def to_record(self) -> dict[str, Any]:
        return {"producer_id": self.producer_id, "producer_epoch": self.producer_epoch,
                "timeout_ms": self.timeout_ms, "state": self.state,
                "partitions": sorted([t, p] for t, p in self.partitions),
                "started_ms": self.started_ms}

    @classmethod
    def from_record(cls, transactional_id: str, r: dict[str, Any]) -> TxnMeta:
        return cls(transactional_id, r["producer_id"], r["producer_epoch"], r["timeout_ms"],
                   r["state"], frozenset((t, p) for t, p in r["partitions"]), r["started_ms"])


def check_timeout(timeout_ms: int, max_timeout_ms: int) -> None:
    if not 0 < timeout_ms <= max_timeout_ms:
        raise KafkaError("INVALID_TRANSACTION_TIMEOUT",
                         f"transaction_timeout_ms = {timeout_ms}: the broker allows "
                         f"1..{max_timeout_ms}")


def _check_producer(meta: TxnMeta, producer_id: int, producer_epoch: int) -> None:
    if producer_id != meta.producer_id:
        raise KafkaError("INVALID_PRODUCER_ID_MAPPING",
                         f"{meta.transactional_id!r} belongs to producer id "
                         f"{meta.producer_id}, not {producer_id}")
    if producer_epoch < meta.producer_epoch:
        raise KafkaError("PRODUCER_FENCED",
                         f"epoch {producer_epoch} of {meta.transactional_id!r} is fenced by "
                         f"a newer producer (epoch {meta.producer_epoch})")
    if producer_epoch > meta.producer_epoch:
        raise KafkaError("INVALID_PRODUCER_EPOCH", f"epoch {producer_epoch} is ahead of the "
                                                   f"coordinator's {meta.producer_epoch}")
    if meta.state in PREPARED:
        raise KafkaError("CONCURRENT_TRANSACTIONS",
                         f"{meta.transactional_id!r}: the last transaction is still ending")


def new_producer(transactional_id: str, producer_id: int, timeout_ms: int) -> TxnMeta:
    return TxnMeta(transactional_id, producer_id, 0, timeout_ms)


def bump_epoch(meta: TxnMeta, timeout_ms: int) -> TxnMeta:
    """InitProducerId for a known transactional id: a new epoch fences every older
    producer with it. Only when no transaction is open or ending (abort it first)."""
    if meta.state in PREPARED or meta.state == ONGOING:
        raise KafkaError("CONCURRENT_TRANSACTIONS", f"{meta.transactional_id!r} has a "
                                                    f"transaction in state {meta.state}")
    if meta.producer_epoch >= EPOCH_MAX:
        raise KafkaError("INVALID_PRODUCER_EPOCH", "epoch exhausted: a new producer id needed")
    return replace(meta, producer_epoch=meta.producer_epoch + 1, timeout_ms=timeout_ms,
                   state=EMPTY, partitions=frozenset(), started_ms=-1)


def add_partitions(meta: TxnMeta, producer_id: int, producer_epoch: int, partitions,
                   now_ms: int) -> TxnMeta:
    _check_producer(meta, producer_id, producer_epoch)
    started = meta.started_ms if meta.state == ONGOING else now_ms
    return replace(meta, state=ONGOING, started_ms=started,
                   partitions=meta.partitions | {(t, p) for t, p in partitions})


def prepare_end(meta: TxnMeta, producer_id: int, producer_epoch: int, commit: bool
                ) -> TxnMeta | None:
    """EndTxn: the metadata to persist, or None when this end is already done (a retry)."""
    done, prepared = (COMPLETE_COMMIT, PREPARE_COMMIT) if commit else (COMPLETE_ABORT,
                                                                       PREPARE_ABORT)
    if producer_id == meta.producer_id and producer_epoch == meta.producer_epoch and \
            meta.state in (done, prepared):
        if meta.state == prepared:
            raise KafkaError("CONCURRENT_TRANSACTIONS", "the markers are still being written")
        return None
    _check_producer(meta, producer_id, producer_epoch)
    if meta.state == ONGOING:
        return replace(meta, state=prepared)
    if meta.state == EMPTY and not commit:
        return None  # aborting nothing is fine
    raise KafkaError("INVALID_TXN_STATE", f"cannot {'commit' if commit else 'abort'} "
                                          f"{meta.transactional_id!r} in state {meta.state}")


def prepare_timeout_abort(meta: TxnMeta) -> TxnMeta:
    """The coordinator aborts a transaction that outlived its timeout, bumping the epoch
    so the producer that let it lapse is fenced."""
    return replace(meta, state=PREPARE_ABORT, producer_epoch=meta.producer_epoch + 1)


def complete(meta: TxnMeta) -> TxnMeta:
    """Every partition has its marker."""
    state = COMPLETE_COMMIT if meta.state == PREPARE_COMMIT else COMPLETE_ABORT
    return replace(meta, state=state, partitions=frozenset(), started_ms=-1)


def expired(meta: TxnMeta, now_ms: int) -> bool:
    return meta.state == ONGOING and now_ms - meta.started_ms > meta.timeout_ms

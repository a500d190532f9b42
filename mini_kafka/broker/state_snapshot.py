"""A partition's producer and transaction state, saved at clean shutdown.

Rebuilding that state means reading every batch header in the log: a broker's start took
seconds per gigabyte, and longer with a cold page cache (a restart after heavy use once
ran past the launcher's 20 s start deadline). Kafka keeps producer snapshots for the same
reason. A snapshot is trusted only after a clean shutdown and only at the log end offset
it was taken at, and it is removed as it is read, so a later crash can never meet a stale
one: without a trusted snapshot the state is rebuilt from the log, as before.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from pathlib import Path

from mini_kafka.broker.log.disk import Disk
from mini_kafka.broker.producer_state import (
    BATCHES_KEPT,
    BatchRecord,
    ProducerEntry,
    ProducerStateTable,
)
from mini_kafka.broker.txn_index import AbortedTxn, TransactionIndex

log = logging.getLogger("mini_kafka.broker.state_snapshot")

SNAPSHOT_FILE = "producer-state.json"
FORMAT_VERSION = 1


def save(directory: Path, end_offset: int, producers: ProducerStateTable,
         txns: TransactionIndex, disk: Disk) -> None:
    """Write the snapshot for a log that ends at end_offset (atomically: a torn write
    leaves the old file or none)."""
    state = {
        "version": FORMAT_VERSION,
        "end_offset": end_offset,
        "producers": {str(pid): {"epoch": e.epoch,
                                 "batches": [[b.first_seq, b.last_seq, b.first_offset,
                                              b.last_offset] for b in e.batches]}
                      for pid, e in producers.producers.items()},
        "open_txns": {str(pid): first for pid, first in txns.open.items()},
        "aborted_txns": [[a.producer_id, a.first_offset, a.last_offset]
                         for a in txns.aborted],
    }
    disk.write_file(directory / SNAPSHOT_FILE, json.dumps(state).encode())


def take(directory: Path, end_offset: int, trusted: bool
         ) -> tuple[ProducerStateTable, TransactionIndex] | None:
    """The saved state if it can be trusted (a clean shutdown, the same log end offset);
    None otherwise. Either way the file is gone afterwards."""
    path = directory / SNAPSHOT_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    path.unlink()
    if not trusted:
        return None
    try:
        state = json.loads(text)
        if state["version"] != FORMAT_VERSION or state["end_offset"] != end_offset:
            return None
        producers = ProducerStateTable()
        for pid, entry in state["producers"].items():
            producers.producers[int(pid)] = ProducerEntry(
                entry["epoch"], deque((BatchRecord(*b) for b in entry["batches"]),
                                      maxlen=BATCHES_KEPT))
        txns = TransactionIndex({int(pid): first for pid, first in state["open_txns"].items()},
                                [AbortedTxn(*a) for a in state["aborted_txns"]])
    except (ValueError, KeyError, TypeError) as e:
        log.warning("%s: unreadable producer state snapshot (%s); rebuilding from the log",
                    directory.name, e)
        return None
    return producers, txns

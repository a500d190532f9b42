"""Transactions on one partition — pure (KIP-98).

Fed every batch header appended (as leader or follower, and on opening the log), with
whether a control batch commits, it knows:
- the open transactions: producer id -> offset of its first batch in the transaction;
- the aborted ones: (producer id, first offset, offset of the abort marker).

The last stable offset (LSO) is the high watermark, or the first offset of the oldest
open transaction if that is lower: a read_committed consumer reads only below it, and is
handed the aborted transactions in the range it fetched so it can drop their records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mini_kafka.records import BatchHeader


@dataclass(frozen=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the abort marker's offset


@dataclass
class TransactionIndex:
    open: dict[int, int] = field(default_factory=dict)
    aborted: list[AbortedTxn] = field(default_factory=list)

    def on_batch(self, header: BatchHeader, commits: bool | None = None) -> None:
        """A batch was appended; `commits` tells a control batch's marker type."""
        if not header.is_transactional:
            return
        pid = header.producer_id
        if header.is_control:
            first = self.open.pop(pid, None)
            if commits is False and first is not None:
                self.aborted.append(AbortedTxn(pid, first, header.base_offset))
        else:
            self.open.setdefault(pid, header.base_offset)

    def last_stable_offset(self, high_watermark: int) -> int:
        return min([high_watermark, *self.open.values()])

    def aborted_between(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions that may hold records in [start, end)."""
        return [a for a in self.aborted if a.last_offset >= start and a.first_offset < end]

    def forget_before(self, log_start_offset: int) -> None:
        """Retention removed everything below `log_start_offset`."""
        self.aborted = [a for a in self.aborted if a.last_offset >= log_start_offset]

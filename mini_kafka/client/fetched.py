"""From a partition's fetched bytes to ConsumerRecords — pure, and the consumer's hot path.

Decisions are made per batch, not per record: a batch wholly before the position, a
control batch (a transaction marker) and a batch of an aborted transaction are skipped
without decoding a record; only the batch holding the position is filtered record by
record (a fetch returns whole batches). Records are built straight from the wire fields
in one tuple construction each.
"""

from __future__ import annotations

from mini_kafka import records
from mini_kafka.client.types import ConsumerRecord


class UndecodableBatchError(records.CorruptRecordError):
    """A batch that cannot be read (corrupt, or compressed with a codec this build cannot
    decode), with the offsets it covers, so a reader can report it and step past it."""

    def __init__(self, header: records.BatchHeader, reason: Exception):
        super().__init__(f"batch at offsets {header.base_offset}..{header.last_offset}: "
                         f"{reason}")
        self.base_offset = header.base_offset
        self.next_offset = header.next_offset
        self.compression = header.compression
        self.reason = str(reason)


def decode_fetched(topic: str, partition: int, data, position: int, aborted: list,
                   key_deserializer=None, value_deserializer=None
                   ) -> tuple[list[ConsumerRecord], int]:
    """(records at or past `position`, the offset just past the last batch seen). `aborted` lists a
    read_committed fetch's (producer_id, first_offset) of aborted transactions: their
    transactional batches are dropped from first_offset up to the producer's abort marker.
    Raises UndecodableBatchError for a batch that cannot be read (records before it are
    lost with it: step past it and fetch again), records.CorruptRecordError for bytes that
    are not batches at all."""
    new = tuple.__new__
    out: list[ConsumerRecord] = []
    batches_end = position
    aborted = sorted(aborted, key=lambda a: a[1])
    aborting: set[int] = set()
    for pos, header in records.iter_headers(data):
        try:
            records.validate_batch(data, pos)
        except records.CorruptRecordError as e:
            raise UndecodableBatchError(header, e) from None
        batches_end = max(batches_end, header.next_offset)
        while aborted and aborted[0][1] <= header.last_offset:
            aborting.add(aborted.pop(0)[0])
        if header.is_control:
            if not records.marker_is_commit(data, pos):
                aborting.discard(header.producer_id)
            continue
        if header.next_offset <= position or \
                (header.is_transactional and header.producer_id in aborting):
            continue
        epoch = header.partition_leader_epoch
        try:
            batch = records.decode_records(
                data, pos, header,
                lambda f, e=epoch: new(ConsumerRecord, (topic, partition, *f, e)))
        except records.CorruptRecordError as e:
            raise UndecodableBatchError(header, e) from None
        if header.base_offset < position:
            batch = [r for r in batch if r.offset >= position]
        out += batch
    if key_deserializer or value_deserializer:
        out = [r._replace(
            key=key_deserializer(r.key) if key_deserializer and r.key is not None else r.key,
            value=value_deserializer(r.value) if value_deserializer and r.value is not None
            else r.value) for r in out]
    return out, batches_end

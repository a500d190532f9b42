"""A partition log next to a plain in-memory model of what it must hold."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from mini_kafka import records
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.clock import ManualClock


@dataclass
class Model:
    """offset -> (key, value, timestamp); batch boundaries as (base, last)."""
    records: dict[int, tuple] = field(default_factory=dict)
    batches: list[tuple[int, int]] = field(default_factory=list)
    end: int = 0


def random_batch(rng: random.Random, clock: ManualClock, max_records: int = 8):
    n = rng.randint(1, max_records)
    recs = []
    for _ in range(n):
        key = rng.choice([None, b"a", b"b", b"c", rng.randbytes(4)])
        value = rng.choice([None, b"", rng.randbytes(rng.randint(1, 300))])
        recs.append((key, value, clock.wall_ms() + rng.randint(-5, 5), None))
    return recs


def append(log: PartitionLog, model: Model, recs, epoch: int):
    header = log.append_as_leader(records.encode_batch(recs), epoch)
    assert header.base_offset == model.end
    for i, (k, v, ts, _) in enumerate(recs):
        model.records[model.end + i] = (k, v, ts)
    model.batches.append((model.end, model.end + len(recs) - 1))
    model.end += len(recs)
    return header


def truncate_model(model: Model, offset: int) -> None:
    """Kafka semantics: the batch straddling `offset` goes whole."""
    if offset >= model.end:
        return
    kept = [b for b in model.batches if b[1] < offset]
    cut = [b for b in model.batches if b[1] >= offset]
    model.batches = kept
    model.end = cut[0][0] if cut else offset
    model.records = {o: r for o, r in model.records.items() if o < model.end}


def read_all(log: PartitionLog, start: int) -> dict[int, tuple]:
    out = {}
    offset = start
    while offset < log.log_end_offset:
        data = log.read(offset, 4096)
        assert data, f"no data at offset {offset} below the log end {log.log_end_offset}"
        for _, record in records.decode_batches(data):
            out[record.offset] = (record.key, record.value, record.timestamp)
        offset = records.peek_header(data, [p for p, _ in records.iter_headers(data)][-1]
                                     ).next_offset
    return out


def open_log(directory, clock, disk=None, **overrides) -> PartitionLog:
    config = LogConfig(**{"segment_bytes": 4096, "index_interval_bytes": 512, **overrides})
    return PartitionLog(directory, config, clock, disk)

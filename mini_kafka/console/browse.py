"""Browsing one partition's records from an offset or a time, through the client's own
Consumer (so whatever it can decode — compressed batches too, once the codecs land in
mini_kafka.records — the page shows). A batch it cannot decode becomes a note on the
page with the offsets it covers, and browsing carries on past it.

Keys, values and header values go to the page as base64 with their size (cut at a
bound); the page renders them as text, pretty JSON or hex.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from mini_kafka.client import Admin, Consumer, CorruptRecordBatchError, TopicPartition
from mini_kafka.errors import KafkaError

POLL_MS = 200
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


class BrowseError(ValueError):
    """A browse request that cannot be answered as asked (a 4xx for the page)."""


@dataclass(frozen=True)
class BrowseRequest:
    topic: str
    partition: int
    offset: int | None = None  # neither: the newest `limit` records
    timestamp_ms: int | None = None
    limit: int = 50


def browse(admin: Admin, consumer: Consumer, req: BrowseRequest, *, value_bytes_max: int,
           deadline_s: float) -> dict[str, Any]:
    tp = TopicPartition(req.topic, req.partition)
    try:
        consumer.assign([tp])
    except (KafkaError, ValueError) as e:  # ValueError: not a topic name or a partition
        raise BrowseError(str(e)) from None
    start = consumer.beginning_offsets([tp])[tp]
    end = consumer.end_offsets([tp])[tp]
    if req.timestamp_ms is not None:
        found = admin.offsets_for_times([tuple(tp)], req.timestamp_ms).get(tuple(tp))
        first = end if found is None else found
    elif req.offset is not None:
        first = req.offset
    else:
        first = end - req.limit
    first = min(max(first, start), end)
    out: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    consumer.seek(tp, first)
    position = first
    give_up = time.monotonic() + deadline_s
    while len(out) < req.limit and position < end and time.monotonic() < give_up:
        try:
            polled = consumer.poll(POLL_MS, max_records=req.limit - len(out))
        except CorruptRecordBatchError as e:
            notes.append(batch_note(e))
            consumer.seek(tp, e.next_offset)
            position = e.next_offset
            continue
        for rec in polled.get(tp, []):
            if rec.offset < end:
                out.append(record_json(rec, value_bytes_max))
        position = consumer.position(tp)
    return {"topic": req.topic, "partition": req.partition, "log_start_offset": start,
            "high_watermark": end, "from_offset": first, "next_offset": position,
            "records": out, "notes": notes,
            "complete": position >= end or len(out) >= req.limit}


def batch_note(e: CorruptRecordBatchError) -> dict[str, Any]:
    codec = CODECS.get(e.compression, f"unknown codec {e.compression}")
    return {"base_offset": e.base_offset, "next_offset": e.next_offset,
            "compression": codec,
            "text": f"offsets {e.base_offset}..{e.next_offset - 1}: a batch that cannot be "
                    f"decoded here (compression {codec}): {e.reason}"}


def record_json(rec, value_bytes_max: int) -> dict[str, Any]:
    return {"offset": rec.offset, "timestamp": rec.timestamp,
            "key": blob(rec.key, value_bytes_max), "value": blob(rec.value, value_bytes_max),
            "headers": [{"key": k, "value": blob(v, value_bytes_max)} for k, v in rec.headers]}


def blob(data: bytes | None, bytes_max: int) -> dict[str, Any] | None:
    if data is None:
        return None
    return {"size": len(data), "truncated": len(data) > bytes_max,
            "base64": base64.b64encode(data[:bytes_max]).decode()}

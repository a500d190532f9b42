"""Browsing a partition: where it starts, what it hands the page, and a batch that cannot
be decoded noted on the page instead of failing it."""

import base64

import pytest

from mini_kafka.client import CorruptRecordBatchError, TopicPartition
from mini_kafka.client.fetched import UndecodableBatchError, decode_fetched
from mini_kafka.client.types import ConsumerRecord
from mini_kafka.console.browse import BrowseError, BrowseRequest, browse
from mini_kafka.errors import KafkaError
from tests.compressed_batches import gzip_batch

TP = TopicPartition("t", 0)


class FakeConsumer:
    """Offsets 0..9, with an unreadable batch at `bad` (offsets, raising on a poll there)."""

    def __init__(self, start=0, end=10, bad=None):
        self.start, self.end, self.bad = start, end, bad
        self.pos = None

    def assign(self, tps):
        if tps != [TP]:
            raise KafkaError("UNKNOWN_TOPIC_OR_PARTITION", f"no {tps}")

    def beginning_offsets(self, tps):
        return {TP: self.start}

    def end_offsets(self, tps):
        return {TP: self.end}

    def seek(self, tp, offset):
        self.pos = offset

    def position(self, tp):
        return self.pos

    def poll(self, timeout_ms, max_records):
        if self.bad and self.bad[0] <= self.pos < self.bad[1]:
            data = bytearray(gzip_batch([(None, b"z", 1, None)] * (self.bad[1] - self.bad[0]),
                                        base_offset=self.bad[0]))
            data[-1] ^= 0xFF  # undecodable with or without a gzip codec: a bad CRC
            try:
                decode_fetched("t", 0, bytes(data), self.pos, [])
            except UndecodableBatchError as e:
                raise CorruptRecordBatchError(TP, e) from None
            raise AssertionError("a corrupt batch decoded")
        out = [ConsumerRecord("t", 0, o, 1_000 + o, b"k", f"v{o}".encode(), (("h", b"1"),), 0)
               for o in range(self.pos, min(self.end, self.pos + max_records, self.pos + 3))]
        if out:
            self.pos = out[-1].offset + 1
        return {TP: out} if out else {}


class FakeAdmin:
    def offsets_for_times(self, tps, ts):
        return {tuple(TP): None if ts > 5_000 else max(0, ts - 1_000)}


def go(consumer, **kw):
    return browse(FakeAdmin(), consumer, BrowseRequest("t", 0, **kw), value_bytes_max=4,
                  deadline_s=5)


def test_from_an_offset_up_to_the_limit_with_values_cut_at_the_bound():
    page = go(FakeConsumer(), offset=2, limit=4)
    assert [r["offset"] for r in page["records"]] == [2, 3, 4, 5]
    first = page["records"][0]
    assert base64.b64decode(first["value"]["base64"]) == b"v2"
    assert first["key"]["size"] == 1 and first["headers"][0]["key"] == "h"
    assert page["next_offset"] == 6 and page["complete"]


def test_newest_by_default_from_a_time_and_clamped_to_the_log():
    assert [r["offset"] for r in go(FakeConsumer(), limit=3)["records"]] == [7, 8, 9]
    assert go(FakeConsumer(), timestamp_ms=1_004)["from_offset"] == 4
    assert go(FakeConsumer(), timestamp_ms=9_999)["records"] == []  # nothing that new
    assert go(FakeConsumer(start=5), offset=0)["from_offset"] == 5
    assert go(FakeConsumer(), offset=99)["from_offset"] == 10


def test_an_undecodable_batch_is_a_note_and_browsing_goes_on_past_it():
    page = go(FakeConsumer(bad=(3, 6)), offset=0, limit=50)
    assert [r["offset"] for r in page["records"]] == [0, 1, 2, 6, 7, 8, 9]
    [note] = page["notes"]
    assert (note["base_offset"], note["next_offset"], note["compression"]) == (3, 6, "gzip")
    assert note["text"].startswith("offsets 3..5: a batch that cannot be decoded here "
                                   "(compression gzip): CRC mismatch")


def test_an_unknown_partition_is_a_browse_error():
    consumer = FakeConsumer()
    consumer.assign = lambda tps: (_ for _ in ()).throw(
        KafkaError("UNKNOWN_TOPIC_OR_PARTITION", "t has no partition 7"))
    with pytest.raises(BrowseError, match="UNKNOWN_TOPIC_OR_PARTITION"):
        go(consumer)

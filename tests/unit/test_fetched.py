"""The consumer's decoding of fetched bytes: batch-level skipping, the position inside a
batch, transactions, deserializers, and poll's hand-out of what was fetched."""

import pytest

from mini_kafka import records
from mini_kafka.client import Consumer
from mini_kafka.client.fetched import UndecodableBatchError, decode_fetched
from mini_kafka.client.types import ConsumerRecord, TopicPartition


def batch(base_offset, values, *, producer_id=-1, transactional=False, epoch=0):
    return records.encode_batch([(None, v, 1000 + i, None) for i, v in enumerate(values)],
                                base_offset=base_offset, partition_leader_epoch=epoch,
                                producer_id=producer_id,
                                producer_epoch=0 if producer_id >= 0 else -1,
                                transactional=transactional)


def marker(offset, producer_id, commit):
    """A transaction marker as a broker stores it: stamped with its offset."""
    raw = records.encode_marker(producer_id, 0, commit, 0, 5000)
    header = records.peek_header(raw)
    return records.stamp_prefix(header, offset, 0) + raw[records.PREFIX_BYTES:]


def values(recs):
    return [r.value for r in recs]


def test_records_at_and_past_the_position_whole_batches_skipped():
    data = batch(0, [b"a", b"b", b"c"]) + batch(3, [b"d", b"e"], epoch=4)
    out, end = decode_fetched("t", 2, data, 1, [])
    assert values(out) == [b"b", b"c", b"d", b"e"] and end == 5
    assert out[-1] == ConsumerRecord("t", 2, 4, 1001, None, b"e", (), 4)
    out, end = decode_fetched("t", 2, data, 3, [])
    assert values(out) == [b"d", b"e"]
    assert decode_fetched("t", 2, data, 5, []) == ([], 5)


def test_aborted_transactions_and_markers_are_dropped_committed_kept():
    data = (batch(0, [b"x1", b"x2"], producer_id=7, transactional=True)
            + batch(2, [b"y1"], producer_id=8, transactional=True)
            + marker(3, 7, commit=False) + marker(4, 8, commit=True)
            + batch(5, [b"x3"], producer_id=7, transactional=True))
    out, end = decode_fetched("t", 0, data, 0, [(7, 0)])
    assert values(out) == [b"y1", b"x3"] and end == 6  # after its abort marker, 7 is clean
    out, _ = decode_fetched("t", 0, data, 0, [])  # read_uncommitted: no aborted list
    assert values(out) == [b"x1", b"x2", b"y1", b"x3"]


def test_only_markers_report_where_the_next_fetch_starts():
    out, end = decode_fetched("t", 0, marker(10, 1, commit=True), 10, [])
    assert out == [] and end == 11


def test_deserializers_apply_and_leave_nulls_alone():
    data = records.encode_batch([(b"k", b"1", 5, None), (None, None, 6, None)])
    out, _ = decode_fetched("t", 0, data, 0, [], key_deserializer=bytes.decode,
                            value_deserializer=int)
    assert [(r.key, r.value) for r in out] == [("k", 1), (None, None)]


def test_a_corrupt_batch_raises():
    data = bytearray(batch(0, [b"a", b"b"]))
    data[-1] ^= 0xFF
    with pytest.raises(records.CorruptRecordError, match="CRC"):
        decode_fetched("t", 0, bytes(data), 0, [])


def test_poll_hands_out_each_record_once_in_order_within_max_records():
    tp, other = TopicPartition("t", 0), TopicPartition("t", 1)
    recs = decode_fetched("t", 0, batch(0, [b"a", b"b", b"c"]), 0, [])[0]
    late = decode_fetched("t", 0, batch(0, [b"a", b"b", b"c", b"d"]), 0, [])[0]
    other_recs = decode_fetched("t", 1, batch(0, [b"z"]), 0, [])[0]
    consumer = Consumer(bootstrap_servers="127.0.0.1:1")  # never connects: nothing fetched
    try:
        consumer._positions = {tp: 0, other: 0}
        # The same partition from its old and its new leader: the overlap is not repeated.
        consumer._buffered = [(tp, recs), (other, other_recs), (tp, late)]
        first = consumer.poll(max_records=2)
        assert {k: values(v) for k, v in first.items()} == {tp: [b"a", b"b"]}
        second = consumer.poll(max_records=10)
        assert {k: values(v) for k, v in second.items()} == {tp: [b"c", b"d"], other: [b"z"]}
        assert consumer._positions == {tp: 4, other: 1} and consumer._buffered == []
    finally:
        consumer.close()


def test_an_undecodable_batch_names_its_offsets_so_a_reader_can_step_past_it():
    from tests.compressed_batches import GZIP, gzip_batch

    data = batch(0, [b"a"]) + gzip_batch([(None, b"z", 1, None)] * 3, base_offset=1)
    try:
        decoded, _ = decode_fetched("t", 0, data, 0, [])
    except UndecodableBatchError as e:  # a build without decompression
        assert (e.base_offset, e.next_offset, e.compression) == (1, 4, GZIP)
        assert "batch at offsets 1..3: compression type 1" in str(e)
    else:  # a build that decompresses: all of it reads
        assert values(decoded) == [b"a", b"z", b"z", b"z"]
    corrupt = bytearray(batch(5, [b"x", b"y"]))
    corrupt[-1] ^= 0xFF
    with pytest.raises(UndecodableBatchError, match="batch at offsets 5..6: CRC") as info:
        decode_fetched("t", 0, bytes(corrupt), 5, [])
    assert info.value.next_offset == 7


def test_the_consumer_reports_an_unreadable_batch_with_where_to_seek_past_it():
    from mini_kafka.client import CorruptRecordBatchError

    tp = TopicPartition("t", 0)
    corrupt = bytearray(batch(5, [b"x", b"y"]))
    corrupt[-1] ^= 0xFF
    consumer = Consumer(bootstrap_servers="127.0.0.1:1")  # never connects
    try:
        consumer._positions = {tp: 5}
        with pytest.raises(CorruptRecordBatchError) as info:
            consumer._decode(tp, bytes(corrupt), [])
        assert info.value.error.name == "CORRUPT_MESSAGE"
        assert (info.value.partition, info.value.next_offset) == (tp, 7)
        assert str(info.value).startswith("CORRUPT_MESSAGE")
        assert "t-0: batch at offsets 5..6: CRC mismatch" in str(info.value)
    finally:
        consumer.close()

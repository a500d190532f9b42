"""Record batch v2 against kafka-python's codec (the oracle), both ways."""

import random

import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from mini_kafka import records
from mini_kafka.records import CorruptRecordError, decode_batch, encode_batch, validate_batch

SAMPLES = [
    (b"key", b"value", 1_700_000_000_000, None),
    (None, b"null key", 1_700_000_000_001, None),
    (b"null value", None, 1_700_000_000_002, None),
    (b"", b"", 1_699_999_999_000, None),  # empty is not null; an earlier timestamp
    (b"k", b"x" * 300_000, 1_700_000_000_005, [("trace", b"abc"), ("empty", b""), ("n", None)]),
]


def test_our_batches_decode_with_kafka_python():
    raw = encode_batch(SAMPLES, producer_id=77, producer_epoch=3, base_sequence=10,
                       transactional=True)
    theirs = DefaultRecordBatch(bytearray(raw))
    assert theirs.validate_crc()
    assert (theirs.producer_id, theirs.producer_epoch, theirs.base_sequence) == (77, 3, 10)
    assert theirs.is_transactional and not theirs.is_control_batch
    assert theirs.max_timestamp == 1_700_000_000_005
    got = [(r.offset, r.key, r.value, r.timestamp, r.headers) for r in theirs]
    want = [(i, k, v, ts, list(h or [])) for i, (k, v, ts, h) in enumerate(SAMPLES)]
    assert got == want


def test_kafka_python_batches_decode_with_ours():
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=5, producer_epoch=0, base_sequence=0,
                                        batch_size=1 << 21)
    for i, (key, value, ts, headers) in enumerate(SAMPLES):
        builder.append(i, timestamp=ts, key=key, value=value, headers=headers or [])
    header, recs = decode_batch(bytes(builder.build()))
    assert (header.producer_id, header.records_count) == (5, len(SAMPLES))
    assert [(r.offset, r.key, r.value, r.timestamp, list(r.headers)) for r in recs] == \
        [(i, k, v, ts, list(h or [])) for i, (k, v, ts, h) in enumerate(SAMPLES)]


def test_byte_for_byte_identical_to_kafka_python():
    rng = random.Random(5)
    recs = [(rng.randbytes(rng.randint(0, 40)) if rng.random() < 0.8 else None,
             rng.randbytes(rng.randint(0, 500)), 1_700_000_000_000 + rng.randint(0, 10**6),
             [("h", rng.randbytes(3))] if rng.random() < 0.3 else None) for _ in range(200)]
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 22)
    for i, (k, v, ts, h) in enumerate(recs):
        builder.append(i, timestamp=ts, key=k, value=v, headers=h or [])
    assert encode_batch(recs, partition_leader_epoch=0) == bytes(builder.build())


def test_stamping_offset_and_epoch_keeps_the_crc_valid():
    raw = encode_batch(SAMPLES[:2])
    header = records.peek_header(raw)
    stamped = records.stamp_prefix(header, 123_456, 9) + raw[records.PREFIX_BYTES:]
    back = validate_batch(stamped)
    assert (back.base_offset, back.partition_leader_epoch, back.crc) == (123_456, 9, header.crc)
    assert [r.offset for r in decode_batch(stamped)[1]] == [123_456, 123_457]


def test_control_bit_and_header_peek_without_parsing_records():
    raw = encode_batch([(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00", 5, None)],
                       control=True, transactional=True, producer_id=1, producer_epoch=0)
    header = records.peek_header(raw)
    assert header.is_control and header.is_transactional and header.size == len(raw)


@pytest.mark.parametrize("mutate, problem", [
    (lambda b: b[:-1], "needs"),
    (lambda b: b[:30], "cannot hold"),
    (lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:], "CRC mismatch"),
    (lambda b: b[:16] + b"\x01" + b[17:], "magic 1"),
])
def test_corruption_is_detected(mutate, problem):
    raw = encode_batch(SAMPLES[:3])
    with pytest.raises(CorruptRecordError, match=problem):
        validate_batch(mutate(raw))


def test_varints_round_trip_at_their_edges():
    for n in [0, -1, 1, 63, -64, 64, 8191, -8192, 8192, 2**31 - 1, -2**31, 2**63 - 1, -2**63]:
        encoded = records.varint(n)
        assert records.read_varint(encoded, 0) == (n, len(encoded))
    with pytest.raises(CorruptRecordError):
        records.read_varint(b"\x80\x80", 0)


def test_every_varint_width_decodes_like_kafka_python():
    """The decoder inlines one- and two-byte varints: lengths and offset deltas on each
    side of 64 and 8192 (where zig-zag varints grow a byte) must still decode exactly."""
    sizes = [0, 1, 62, 63, 64, 65, 127, 128, 8190, 8191, 8192, 8193, 20_000]
    recs = [(None if i % 3 == 0 else b"k" * sizes[i % len(sizes)],
             b"v" * sizes[(i * 7) % len(sizes)], 1_700_000_000_000 + i * 1000, None)
            for i in range(9000)]  # offset deltas pass 63 and 8191 too
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 30)
    for i, (k, v, ts, _) in enumerate(recs):
        builder.append(i, timestamp=ts, key=k, value=v, headers=[])
    _, ours = decode_batch(bytes(builder.build()))
    assert [(r.offset, r.key, r.value, r.timestamp) for r in ours] == \
        [(i, k, v, ts) for i, (k, v, ts, _) in enumerate(recs)]


def test_garbage_inside_a_batch_is_a_corrupt_record_error_never_a_crash():
    raw = encode_batch(SAMPLES[:4])
    rng = random.Random(11)
    for _ in range(3000):
        mutated = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(records.HEADER_BYTES, len(raw))] = rng.randrange(256)
        try:
            decode_batch(bytes(mutated), verify_crc=False)
        except CorruptRecordError:
            pass

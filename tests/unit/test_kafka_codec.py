"""The pure parts of the Kafka listener: framing, request headers, ApiVersions'
fallback, ConsumerProtocol (kafka-python's structs as the oracle) and compression."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.protocol.old.consumer_protocol import (
    ConsumerProtocolMemberAssignment_v0,
    ConsumerProtocolMemberMetadata_v0,
)

import mini_kafka.broker.kafka_listener  # noqa: F401 (registers every adapter)
from mini_kafka import compression, records
from mini_kafka.compression import CompressionError
from mini_kafka.kafka_protocol import codec, consumer_protocol
from mini_kafka.kafka_protocol.codec import MalformedRequest, UnknownRequest, read_request
from mini_kafka.kafka_protocol.framing import FrameError, FrameSplitter, frame
from mini_kafka.kafka_protocol.versions import unsupported_version_response


def request_bytes(api_key: int, version: int, correlation_id: int, client_id: str | None,
                  body: bytes, flexible: bool) -> bytes:
    cid = b"\xff\xff" if client_id is None else struct.pack(">h", len(client_id)) + \
        client_id.encode()
    return struct.pack(">hhi", api_key, version, correlation_id) + cid + \
        (b"\x00" if flexible else b"") + body


# -- framing -------------------------------------------------------------------------------


def test_frames_are_cut_from_any_chunking():
    stream = b"".join(b"".join(frame([payload])) for payload in (b"a", b"", b"xyz" * 100))
    for chunk in (1, 2, 3, 7, len(stream)):
        splitter = FrameSplitter(1024)
        got = []
        for i in range(0, len(stream), chunk):
            got += splitter.feed(stream[i:i + chunk])
        assert got == [b"a", b"", b"xyz" * 100] and splitter.buffered == 0


@pytest.mark.parametrize("size", [-1, 1025, 2**31 - 1])
def test_a_frame_over_the_bound_or_negative_is_a_protocol_error(size):
    with pytest.raises(FrameError, match=f"frame of {size} bytes"):
        FrameSplitter(1024).feed(struct.pack(">i", size))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_protocol_errors(data):
    try:
        frames = FrameSplitter(64).feed(data)
    except FrameError:
        return
    for f in frames:
        try:
            read_request(f)
        except MalformedRequest:
            pass


# -- headers -------------------------------------------------------------------------------


def test_header_v1_and_v2_are_read_with_their_client_id():
    v1 = request_bytes(3, 1, 77, "kcat", b"\xff\xff\xff\xff", flexible=False)  # topics: null
    header, request = read_request(v1)
    assert header == codec.RequestHeader(3, 1, 77, "kcat") and request.topics is None
    # Metadata v9 is flexible: header v2 (tagged fields), compact body.
    v9 = request_bytes(3, 9, 78, None, b"\x00\x00\x00\x00\x00", flexible=True)
    header, request = read_request(v9)
    assert header == codec.RequestHeader(3, 9, 78, None) and request.topics is None


def test_a_body_that_lies_about_its_lengths_is_malformed():
    lying = request_bytes(3, 1, 1, "c", struct.pack(">i", 5) + b"\x00\x01a", flexible=False)
    with pytest.raises(MalformedRequest):
        read_request(lying)
    # Bytes after a complete body are ignored, as Kafka does (librdkafka sends some).
    trailing = request_bytes(3, 1, 1, "c", b"\xff\xff\xff\xff" + b"extra", flexible=False)
    assert read_request(trailing)[1].topics is None
    with pytest.raises(MalformedRequest, match="cannot hold a header"):
        read_request(b"\x00\x03")


def test_an_unknown_api_key_or_version_is_named():
    with pytest.raises(UnknownRequest, match="API 9999 version 0"):
        read_request(request_bytes(9999, 0, 1, "c", b"", flexible=False))


def test_api_versions_answers_an_unknown_version_in_v0_with_its_ranges():
    """KIP-511: header v0 (no tagged-field byte) and UNSUPPORTED_VERSION (35)."""
    body = codec.write_response(5, unsupported_version_response())
    correlation, error, count = struct.unpack_from(">ihi", body)
    assert (correlation, error) == (5, 35) and count >= 20
    keys = {struct.unpack_from(">hhh", body, 10 + 6 * i)[0] for i in range(count)}
    assert {0, 1, 3, 18} <= keys


def test_api_versions_response_header_is_v0_even_for_v3():
    from mini_kafka.kafka_protocol.codec import response_class
    from mini_kafka.kafka_protocol.entities import build
    v3 = build(response_class(18, 3), {"error_code": "NONE", "api_keys": [],
                                        "throttle_time_ms": 0})
    body = codec.write_response(9, v3)
    assert body[:4] == struct.pack(">i", 9) and body[4:6] == b"\x00\x00"  # error code next


# -- ConsumerProtocol ----------------------------------------------------------------------


def test_subscription_and_assignment_match_kafka_pythons_structs():
    ours = consumer_protocol.encode_subscription(["b", "a"])
    theirs = ConsumerProtocolMemberMetadata_v0.decode(ours)
    assert theirs.version == 1 and list(theirs.topics) == ["a", "b"]
    theirs_bytes = ConsumerProtocolMemberAssignment_v0(
        0, [("t", [2, 0]), ("u", [1])], b"").encode()
    assert consumer_protocol.decode_assignment(theirs_bytes) == [("t", 2), ("t", 0), ("u", 1)]
    back = ConsumerProtocolMemberAssignment_v0.decode(
        consumer_protocol.encode_assignment([("t", 2), ("t", 0)]))
    assert back.partitions() == [("t", 0), ("t", 2)] or \
        [(tp.topic, tp.partition) for tp in back.partitions()] == [("t", 0), ("t", 2)]


def test_owned_partitions_survive_a_round_trip_and_newer_versions_are_read():
    data = consumer_protocol.encode_subscription(["t"], [("t", 3), ("t", 1)])
    assert consumer_protocol.decode_subscription(data)["owned"] == [("t", 1), ("t", 3)]
    # A v9 subscription holds v3's fields (v1's + generation id + rack), then more.
    newer = struct.pack(">h", 9) + data[2:] + struct.pack(">i", 4) + b"\xff\xff" + b"later"
    assert consumer_protocol.decode_subscription(newer)["topics"] == ["t"]
    assert consumer_protocol.decode_assignment(b"") == []
    with pytest.raises(MalformedRequest):
        consumer_protocol.decode_assignment(b"\x00")


# -- compression ---------------------------------------------------------------------------


@pytest.mark.parametrize("codec_name", ["gzip", "snappy", "lz4", "zstd"])
def test_each_codec_round_trips_a_batch(codec_name):
    codec_id = compression.codec_of(codec_name)
    rows = [(b"k%d" % i, b"value %d " % i * 20, 1_700_000_000_000 + i, None)
            for i in range(50)]
    batch = records.encode_batch(rows, compression_codec=codec_id)
    plain = records.encode_batch(rows)
    assert len(batch) < len(plain)
    header, got = records.decode_batch(batch)
    assert header.compression == codec_id
    assert [(r.key, r.value, r.timestamp) for r in got] == [r[:3] for r in rows]


def test_javas_xerial_snappy_framing_is_read():
    import cramjam
    data = b"hello xerial " * 500
    blocks = [data[:3000], data[3000:]]
    framed = compression.XERIAL_MAGIC + struct.pack(">ii", 1, 1) + b"".join(
        struct.pack(">i", len(c)) + c for c in
        (bytes(cramjam.snappy.compress_raw(b)) for b in blocks))
    assert compression.decompress(compression.SNAPPY, framed) == data


@pytest.mark.parametrize("codec_id", [compression.GZIP, compression.SNAPPY,
                                      compression.LZ4, compression.ZSTD])
def test_decompression_is_bounded_and_garbage_is_an_error(codec_id):
    bomb = compression.compress(codec_id, b"\x00" * 100_000)
    with pytest.raises(CompressionError):
        compression.decompress(codec_id, bomb, limit=10_000)
    with pytest.raises(CompressionError):
        compression.decompress(codec_id, b"not compressed at all")


def test_a_corrupt_compressed_batch_is_a_corrupt_record():
    batch = bytearray(records.encode_batch([(None, b"x" * 100, 1, None)],
                                           compression_codec=compression.GZIP))
    batch[records.HEADER_BYTES + 3] ^= 0xFF
    with pytest.raises(records.CorruptRecordError):
        records.decode_batch(bytes(batch), verify_crc=False)

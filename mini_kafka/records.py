"""Kafka record batch v2 (magic 2), byte for byte — pure.

    baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8
    crc uint32 | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64
    maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32
    recordsCount int32 | records...

CRC-32C covers attributes..end, so a broker stamps baseOffset and partitionLeaderEpoch
(`stamp_prefix`) without touching the CRC or the record bytes. Encoding is on the
producer's hot path: varints of small values come from a table, and a record is built
with one join.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from crc32c import crc32c

from mini_kafka import compression
from mini_kafka.compression import CompressionError

MAGIC = 2
HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_BYTES = HEADER.size  # 61
# The part before the CRC'd region: baseOffset, batchLength, partitionLeaderEpoch, magic.
PREFIX = struct.Struct(">qiib")
CRC_START = 21  # attributes onwards
LOG_OVERHEAD = 12  # baseOffset + batchLength: what precedes batchLength's count
BATCH_BYTES_MIN = HEADER_BYTES - LOG_OVERHEAD  # smallest legal batchLength (49)

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08  # 0 = CreateTime, 1 = LogAppendTime
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1


class CorruptRecordError(ValueError):
    """Bytes that are not a valid record batch (Kafka's CORRUPT_MESSAGE)."""


class BatchHeader(NamedTuple):
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, headers included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % (2**31)


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


# -- varints (zig-zag, as protobuf) -----------------------------------------------------

# Zig-zagged values below this (lengths and deltas under 2 KiB: 1-2 bytes) are tabled.
# 4096 entries, ~140 KB in every process; 1 << 14 cost 0.7 MB in each of 100 brokers.
_SMALL_VARINT_LIMIT = 1 << 12


def _unsigned_varint(u: int) -> bytes:
    out = bytearray()
    while u > 0x7F:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


_SMALL_VARINTS = [_unsigned_varint(u) for u in range(_SMALL_VARINT_LIMIT)]


def varint(n: int) -> bytes:
    u = (n << 1) ^ (n >> 63)
    if u < _SMALL_VARINT_LIMIT:
        return _SMALL_VARINTS[u]
    return _unsigned_varint(u)


def read_varint(buf, pos: int) -> tuple[int, int]:
    """(value, next position). Raises CorruptRecordError past the end or when too long."""
    shift = 0
    u = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise CorruptRecordError("varint runs past the end of the batch")
        b = buf[pos]
        pos += 1
        u |= (b & 0x7F) << shift
        if not b & 0x80:
            return (u >> 1) ^ -(u & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptRecordError("varint longer than 10 bytes")


_NULL = varint(-1)


# -- encoding ---------------------------------------------------------------------------


def encode_batch(records, **batch_fields) -> bytes:
    """Encode records given as (key, value, timestamp_ms, headers) tuples, where headers
    is a sequence of (str, bytes|None) pairs or None; see encode_columns for the rest."""
    if not records:
        raise ValueError("a record batch holds at least one record")
    keys, values, timestamps, headers = zip(*records, strict=True)
    return encode_columns(keys, values, timestamps, headers, **batch_fields)


def encode_columns(keys, values, timestamps, headers, *, base_offset: int = 0,
                   base_timestamp: int | None = None, producer_id: int = NO_PRODUCER_ID,
                   producer_epoch: int = NO_PRODUCER_EPOCH, base_sequence: int = NO_SEQUENCE,
                   partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
                   transactional: bool = False, control: bool = False,
                   log_append_time: bool = False, offset_deltas=None,
                   last_offset_delta: int | None = None,
                   compression_codec: int = compression.NONE) -> bytes:
    """Encode the records whose keys, values, timestamps and headers are given column by
    column (as the producer accumulates them). Offsets are 0..n-1 relative to the batch
    (the broker stamps the base offset when it appends), unless `offset_deltas` gives
    them, as compaction does to keep the offsets of the records it retains.

    This loop runs once per record a producer sends: small varints come straight from
    the table and each record is one join."""
    if not values:
        raise ValueError("a record batch holds at least one record")
    if base_timestamp is None:
        base_timestamp = timestamps[0]
    max_timestamp = max(base_timestamp, max(timestamps))
    small, limit, join = _SMALL_VARINTS, _SMALL_VARINT_LIMIT, b"".join
    parts = []
    append = parts.append
    deltas = range(len(values)) if offset_deltas is None else offset_deltas
    for delta, key, value, timestamp, hdrs in zip(deltas, keys, values, timestamps, headers,
                                                  strict=True):
        u = (timestamp - base_timestamp) << 1
        ts = small[u] if 0 <= u < limit else varint(timestamp - base_timestamp)
        u = delta << 1
        od = small[u] if 0 <= u < limit else varint(delta)
        if key is None:
            key_part = _NULL
        else:
            u = len(key) << 1
            key_part = (small[u] if u < limit else varint(len(key))) + key
        if value is None:
            value_len, value = _NULL, b""
        else:
            u = len(value) << 1
            value_len = small[u] if u < limit else varint(len(value))
        record = join((b"\x00", ts, od, key_part, value_len, value,
                       _encode_headers(hdrs) if hdrs else b"\x00"))
        u = len(record) << 1
        append(small[u] if u < limit else varint(len(record)))
        append(record)
    attributes = ((TRANSACTIONAL_BIT if transactional else 0) | (CONTROL_BIT if control else 0)
                  | (TIMESTAMP_TYPE_BIT if log_append_time else 0) | compression_codec)
    if last_offset_delta is None:
        last_offset_delta = deltas[-1]
    tail = struct.pack(">hiqqqhii", attributes, last_offset_delta, base_timestamp, max_timestamp,
                       producer_id, producer_epoch, base_sequence, len(values))
    body = join(parts)
    if compression_codec:
        body = compression.compress(compression_codec, body)
    crc_region = tail + body
    batch_length = len(crc_region) + 9  # + partitionLeaderEpoch(4) + magic(1) + crc(4)
    return (PREFIX.pack(base_offset, batch_length, partition_leader_epoch, MAGIC)
            + struct.pack(">I", crc32c(crc_region)) + crc_region)


def _encode_headers(headers) -> bytes:
    body = [varint(len(headers))]
    for hkey, hvalue in headers:
        hk = hkey.encode()
        body += (varint(len(hk)), hk)
        body += (_NULL,) if hvalue is None else (varint(len(hvalue)), hvalue)
    return b"".join(body)


def stamp_prefix(header: BatchHeader, base_offset: int, partition_leader_epoch: int) -> bytes:
    """The 17 bytes that replace a batch's first 17 (offset, length, epoch, magic): the
    broker writes these followed by the original bytes from 17 on — no CRC change."""
    return PREFIX.pack(base_offset, header.batch_length, partition_leader_epoch, MAGIC)


PREFIX_BYTES = PREFIX.size  # 17


# -- decoding ---------------------------------------------------------------------------


def peek_header(buf, pos: int = 0) -> BatchHeader:
    """The batch header at `pos`, without reading records. Checks only that the header is
    complete and the magic is 2; `validate_batch` checks the rest."""
    if len(buf) - pos < HEADER_BYTES:
        raise CorruptRecordError(
            f"{len(buf) - pos} bytes at position {pos} cannot hold a {HEADER_BYTES}-byte header")
    header = BatchHeader._make(HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC:
        raise CorruptRecordError(f"magic {header.magic} at position {pos}; only magic 2 is read")
    return header


def validate_batch(buf, pos: int = 0) -> BatchHeader:
    """The header of the complete, CRC-valid batch at `pos`, or CorruptRecordError."""
    header = peek_header(buf, pos)
    if header.batch_length < BATCH_BYTES_MIN:
        raise CorruptRecordError(f"batchLength {header.batch_length} below {BATCH_BYTES_MIN}")
    end = pos + header.size
    if end > len(buf):
        raise CorruptRecordError(
            f"batch at position {pos} needs {header.size} bytes, {len(buf) - pos} present")
    if header.records_count < 0 or header.last_offset_delta < 0:
        raise CorruptRecordError("negative record count or last offset delta")
    actual = crc32c(memoryview(buf)[pos + CRC_START:end])
    if actual != header.crc:
        raise CorruptRecordError(
            f"CRC mismatch in batch at position {pos}: stored {header.crc:#010x}, "
            f"computed {actual:#010x}")
    return header


def iter_headers(buf):
    """(position, header) of each complete batch in a buffer of concatenated batches;
    stops at the first incomplete one (a torn tail or a partial read)."""
    pos = 0
    end = len(buf)
    while end - pos >= HEADER_BYTES:
        header = peek_header(buf, pos)
        if pos + header.size > end or header.batch_length < BATCH_BYTES_MIN:
            return
        yield pos, header
        pos += header.size


def decode_batch(buf, pos: int = 0, *, verify_crc: bool = True) -> tuple[BatchHeader, list[Record]]:
    header = validate_batch(buf, pos) if verify_crc else peek_header(buf, pos)
    return header, decode_records(buf, pos, header, _record)


def _record(fields: tuple) -> Record:
    return Record(*fields)


def decode_records(buf, pos: int, header: BatchHeader, build) -> list:
    """The records of the batch at `pos` (its header already read and checked), each as
    build((offset, timestamp, key, value, headers)): callers build their own record type
    in one step instead of converting ours. This is a consumer's per-record cost, so the
    one- and two-byte varints that nearly every field uses are decoded inline. A
    compressed batch's records are decompressed first (gzip, snappy, lz4, zstd)."""
    # Indexing bytes is faster than indexing a memoryview; one copy of the batch pays off.
    data = bytes(buf[pos + HEADER_BYTES:pos + header.size])
    if header.compression:
        try:
            data = compression.decompress(header.compression, data)
        except CompressionError as e:
            raise CorruptRecordError(f"batch at offset {header.base_offset}: {e}") from None
    end = len(data)
    base_offset, base_ts = header.base_offset, header.base_timestamp
    out = []
    append = out.append
    p = 0
    try:
        for _ in range(header.records_count):
            b = data[p]
            if b < 0x80:
                length, p = (b >> 1) ^ -(b & 1), p + 1
            elif data[p + 1] < 0x80:
                u = (b & 0x7F) | (data[p + 1] << 7)
                length, p = (u >> 1) ^ -(u & 1), p + 2
            else:
                length, p = read_varint(data, p)
            record_end = p + length
            if record_end > end:
                raise CorruptRecordError("record runs past the end of its batch")
            p += 1  # attributes: unused in v2
            b = data[p]
            if b < 0x80:
                ts_delta, p = (b >> 1) ^ -(b & 1), p + 1
            else:
                ts_delta, p = read_varint(data, p)
            b = data[p]
            if b < 0x80:
                offset_delta, p = (b >> 1) ^ -(b & 1), p + 1
            elif data[p + 1] < 0x80:
                u = (b & 0x7F) | (data[p + 1] << 7)
                offset_delta, p = (u >> 1) ^ -(u & 1), p + 2
            else:
                offset_delta, p = read_varint(data, p)
            b = data[p]
            if b == 1:  # -1: null
                key, p = None, p + 1
            else:
                key_len, p = read_varint(data, p)
                key = data[p:p + key_len]
                p += key_len
            b = data[p]
            if b == 1:
                value, p = None, p + 1
            else:
                if b < 0x80:
                    value_len, p = (b >> 1) ^ -(b & 1), p + 1
                elif data[p + 1] < 0x80:
                    u = (b & 0x7F) | (data[p + 1] << 7)
                    value_len, p = (u >> 1) ^ -(u & 1), p + 2
                else:
                    value_len, p = read_varint(data, p)
                value = data[p:p + value_len]
                p += value_len
            if data[p] == 0:
                headers, p = (), p + 1
            else:
                headers, p = _read_headers(data, p)
            if p != record_end:
                raise CorruptRecordError(f"record length {length} disagrees with its fields")
            append(build((base_offset + offset_delta, base_ts + ts_delta, key, value, headers)))
    except IndexError:
        raise CorruptRecordError("record runs past the end of its batch") from None
    if p != end:
        raise CorruptRecordError("batch has bytes after its last record")
    return out


def _read_headers(data: bytes, p: int) -> tuple[tuple, int]:
    count, p = read_varint(data, p)
    if not 0 <= count <= len(data) - p:  # each header takes at least a byte
        raise CorruptRecordError(f"header count {count} does not fit the record")
    headers = []
    for _ in range(count):
        key_len, p = read_varint(data, p)
        if key_len < 0:
            raise CorruptRecordError(f"header key length {key_len}")
        try:
            key = data[p:p + key_len].decode()
        except UnicodeDecodeError:
            raise CorruptRecordError("a header key that is not UTF-8") from None
        p += key_len
        value_len, p = read_varint(data, p)
        value = None
        if value_len < -1:
            raise CorruptRecordError(f"header value length {value_len}")
        if value_len >= 0:
            value = data[p:p + value_len]
            p += value_len
        headers.append((key, value))
    return tuple(headers), p


def decode_batches(buf, *, verify_crc: bool = True):
    """Every record of every complete batch in `buf`, with its batch header."""
    for pos, _ in iter_headers(buf):
        header, records = decode_batch(buf, pos, verify_crc=verify_crc)
        for record in records:
            yield header, record


# -- transaction markers (control batches) ------------------------------------------------

ABORT_MARKER, COMMIT_MARKER = 0, 1
_MARKER_KEY = struct.Struct(">hh")  # version, type
_MARKER_VALUE = struct.Struct(">hi")  # version, coordinator epoch


def encode_marker(producer_id: int, producer_epoch: int, commit: bool,
                  coordinator_epoch: int, timestamp_ms: int) -> bytes:
    """A control batch ending a transaction on one partition (KIP-98's EndTxnMarker)."""
    kind = COMMIT_MARKER if commit else ABORT_MARKER
    return encode_batch([(_MARKER_KEY.pack(0, kind), _MARKER_VALUE.pack(0, coordinator_epoch),
                          timestamp_ms, None)], producer_id=producer_id,
                        producer_epoch=producer_epoch, transactional=True, control=True)


def marker_is_commit(buf, pos: int = 0) -> bool:
    """Whether the control batch at `pos` commits (else it aborts)."""
    _, recs = decode_batch(buf, pos, verify_crc=False)
    if not recs:
        raise CorruptRecordError("a control batch without a marker")
    return is_commit_marker_key(recs[0].key)


def is_commit_marker_key(key: bytes | None) -> bool:
    if key is None or len(key) < _MARKER_KEY.size:
        raise CorruptRecordError("a control record without a marker key")
    return _MARKER_KEY.unpack_from(key)[1] == COMMIT_MARKER

"""A compressed record batch built by hand (gzip over an encoded batch's records), as Kafka
clients send them, for tests of what reads batches."""

from __future__ import annotations

import gzip
import struct

from crc32c import crc32c

from mini_kafka import records

GZIP = 1  # Kafka's compression codec ids: 1 gzip, 2 snappy, 3 lz4, 4 zstd
CRC_AT = 17  # baseOffset, batchLength, partitionLeaderEpoch, magic


def gzip_batch(recs, **fields) -> bytes:
    plain = records.encode_batch(recs, **fields)
    header = records.peek_header(plain)
    body = gzip.compress(plain[records.HEADER_BYTES:])
    packed = header._replace(
        batch_length=records.HEADER_BYTES - records.LOG_OVERHEAD + len(body),
        attributes=header.attributes | GZIP, crc=0)
    raw = bytearray(records.HEADER.pack(*packed) + body)
    struct.pack_into(">I", raw, CRC_AT, crc32c(bytes(raw[records.CRC_START:])))
    return bytes(raw)

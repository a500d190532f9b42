"""The record-batch codecs Kafka clients use (attributes bits 0-2): gzip, snappy, lz4 and
zstd — pure, over _cramjam().

A compressed batch compresses everything after its 61-byte header as one block, so a
broker can store and serve it as sent. Snappy comes in two framings: librdkafka writes
raw snappy, Java's client xerial's framing (a magic header, then length-prefixed raw
blocks); both are read. LZ4 is the LZ4 frame format (magic 2 batches). Decompressed sizes
are bounded so that a tiny hostile batch cannot claim gigabytes.
"""

from __future__ import annotations

import struct
import zlib

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODECS = {"none": NONE, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}
NAMES = {code: name for name, code in CODECS.items()}
XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")
_BLOCK = struct.Struct(">i")
DECOMPRESSED_BYTES_MAX = 256 * 1024 * 1024


def _cramjam():
    """Imported at the first compressed batch, not at start: a broker whose clients
    never compress does not carry its ~1.6 MB (an import already done is a lookup)."""
    import cramjam
    return cramjam


class CompressionError(ValueError):
    """Bytes that do not decompress with their batch's codec (or a codec we lack)."""


def codec_of(name: str) -> int:
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"compression_type {name!r}: choose from "
                         f"{', '.join(CODECS)}") from None


def compress(codec: int, data: bytes) -> bytes:
    if codec == GZIP:
        return bytes(_cramjam().gzip.compress(data))
    if codec == SNAPPY:
        return bytes(_cramjam().snappy.compress_raw(data))
    if codec == LZ4:
        return bytes(_cramjam().lz4.compress(data))
    if codec == ZSTD:
        return bytes(_cramjam().zstd.compress(data))
    raise CompressionError(f"unknown compression codec {codec}")


def decompress(codec: int, data, limit: int = DECOMPRESSED_BYTES_MAX) -> bytes:
    try:
        if codec == GZIP:
            return _gunzip(data, limit)
        if codec == SNAPPY:
            return _unsnappy(data, limit)
        if codec == LZ4:
            out = bytes(_cramjam().lz4.decompress(data))
        elif codec == ZSTD:
            out = bytes(_cramjam().zstd.decompress(data))
        else:
            raise CompressionError(f"unknown compression codec {codec}")
    except CompressionError:
        raise
    except Exception as e:  # cramjam raises its own DecompressionError and others
        raise CompressionError(f"{NAMES.get(codec, codec)}: {e}") from None
    if len(out) > limit:
        raise CompressionError(f"decompresses to {len(out)} bytes, over {limit}")
    return out


def _gunzip(data, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise CompressionError(f"gzip: {e}") from None
    if len(out) > limit:
        raise CompressionError(f"gzip data decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise CompressionError("gzip data is truncated")
    return out


def _unsnappy(data, limit: int) -> bytes:
    data = bytes(data)
    if not data.startswith(XERIAL_MAGIC):
        return _raw_snappy(data, limit)
    pos, parts, size = _XERIAL_HEADER.size, [], 0
    while pos < len(data):
        if pos + _BLOCK.size > len(data):
            raise CompressionError("snappy (xerial): truncated block length")
        (length,) = _BLOCK.unpack_from(data, pos)
        pos += _BLOCK.size
        if length < 0 or pos + length > len(data):
            raise CompressionError("snappy (xerial): a block runs past the end")
        block = _raw_snappy(data[pos:pos + length], limit - size)
        parts.append(block)
        size += len(block)
        pos += length
    return b"".join(parts)


def _raw_snappy(data: bytes, limit: int) -> bytes:
    if _cramjam().snappy.decompress_raw_len(data) > limit:
        raise CompressionError(f"snappy data claims more than {limit} bytes")
    return bytes(_cramjam().snappy.decompress_raw(data))

"""Request headers and bodies in, response headers and bodies out — pure.

Header v1 is `api_key int16, api_version int16, correlation_id int32, client_id nullable
string` (a 2-byte length in every header version); v2, used by flexible request versions,
adds tagged fields. Response header v1 (flexible responses) adds empty tagged fields to
the correlation id — except ApiVersions, whose response header is always v0: clients
read it before they know what the broker speaks.

Bodies are read and written with kio's entity codecs, chosen by (api key, version).
"""

from __future__ import annotations

import io
import struct
from functools import cache
from typing import Any, NamedTuple

from kio.index import UnknownAPIKey, UnknownEntity, load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from mini_kafka.kafka_protocol.length_guard import (
    LengthOutOfBounds,
    check_flexible_body,
    read_uvarint,
)

API_VERSIONS_KEY = 18
_PREFIX = struct.Struct(">hhi")
_LENGTH = struct.Struct(">h")
_CORRELATION = struct.Struct(">i")


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


class MalformedRequest(ValueError):
    """Bytes that do not decode as the request they claim to be."""


class UnknownRequest(MalformedRequest):
    """An API key or version kio has no schema for."""


def peek_header(frame) -> tuple[int, int, int]:
    """(api key, version, correlation id): readable for any version, known or not."""
    if len(frame) < _PREFIX.size:
        raise MalformedRequest(f"a {len(frame)}-byte request cannot hold a header")
    return _PREFIX.unpack_from(frame)


@cache
def request_class(api_key: int, version: int):
    try:
        return load_request_schema(api_key, version)
    except (UnknownAPIKey, UnknownEntity):
        raise UnknownRequest(f"no schema for API {api_key} version {version}") from None


@cache
def response_class(api_key: int, version: int):
    return load_response_schema(api_key, version)


# kio builds a reader and a writer per entity class; built once, they serve every
# message (the consumer protocol's too).
@cache
def reader_for(cls):
    return entity_reader(cls)


@cache
def writer_for(cls):
    return entity_writer(cls)


def _read_uvarint(buf, pos: int) -> tuple[int, int]:
    try:
        return read_uvarint(buf, pos, len(buf))
    except LengthOutOfBounds as e:
        raise MalformedRequest(f"the header: {e}") from None


def read_header(frame, flexible: bool) -> tuple[RequestHeader, int]:
    """The header and the position where the body starts."""
    api_key, version, correlation_id = peek_header(frame)
    pos = _PREFIX.size
    if len(frame) < pos + _LENGTH.size:
        raise MalformedRequest("the header ends before its client id")
    (length,) = _LENGTH.unpack_from(frame, pos)
    pos += _LENGTH.size
    client_id = None
    if length >= 0:
        if pos + length > len(frame):
            raise MalformedRequest("the client id runs past the end of the request")
        try:
            client_id = bytes(frame[pos:pos + length]).decode()
        except UnicodeDecodeError:
            raise MalformedRequest("the client id is not UTF-8") from None
        pos += length
    elif length != -1:
        raise MalformedRequest(f"client id length {length}")
    if flexible:  # header tagged fields: none are defined for requests; skip them
        count, pos = _read_uvarint(frame, pos)
        for _ in range(count):
            _, pos = _read_uvarint(frame, pos)
            size, pos = _read_uvarint(frame, pos)
            pos += size
            if pos > len(frame):
                raise MalformedRequest("a header tagged field runs past the end")
    return RequestHeader(api_key, version, correlation_id, client_id), pos


def read_request(frame) -> tuple[RequestHeader, Any]:
    """Header and kio request entity. Raises MalformedRequest (UnknownRequest for a key
    or version without a schema)."""
    api_key, version, _ = peek_header(frame)
    cls = request_class(api_key, version)
    header, pos = read_header(frame, cls.__flexible__)
    view = memoryview(frame).toreadonly() if not isinstance(frame, bytes) else frame
    if cls.__flexible__:  # before kio, whose compact arrays trust their length
        try:
            check_flexible_body(cls, view, pos)
        except LengthOutOfBounds as e:
            raise MalformedRequest(f"{cls.__name__} v{version}: {e}") from None
    try:
        entity, size = reader_for(cls)(view, pos)
    except Exception as e:  # kio's native reader raises several types on bad bytes
        raise MalformedRequest(f"{cls.__name__} v{version}: {type(e).__name__}: {e}") from None
    # Bytes after the body are ignored, as Kafka's brokers ignore them: librdkafka 2.x
    # sends three after an all-topics Metadata v12, and must work as it does with Kafka.
    return header, entity


def write_response(correlation_id: int, entity) -> bytes:
    """Response header and body, without the size prefix."""
    flexible = entity.__flexible__ and entity.__api_key__ != API_VERSIONS_KEY
    buf = io.BytesIO()
    buf.write(_CORRELATION.pack(correlation_id))
    if flexible:
        buf.write(b"\x00")  # no header tagged fields
    writer_for(type(entity))(buf, entity)
    return buf.getvalue()

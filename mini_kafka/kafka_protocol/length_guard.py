"""Array lengths checked against the bytes that are there, before kio reads a body — pure.

kio's native reader sizes a compact (flexible-version) array's storage from its declared
length before reading any element, so a frame declaring four billion topics makes it ask
the allocator for 32 GiB; the allocation fails and Rust aborts the whole broker (SIGABRT,
no Python exception to catch). Its legacy arrays and all its strings are bounds-checked.

So flexible request bodies are walked once here, field by field from kio's own schema
classes, skipping values without building them: every compact array, string, bytes and
tagged field must fit in what is left of the frame (each array element takes at least
one byte), else the request is malformed. Legacy versions need no walk.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache

_FIXED_SIZES = {
    "bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "error_code": 2,
    "int32": 4, "uint32": 4, "timedelta_i32": 4, "int64": 8, "uint64": 8,
    "timedelta_i64": 8, "datetime_i64": 8, "float64": 8, "uuid": 16,
}
_LENGTH_PREFIXED = {"string", "bytes", "records"}


class LengthOutOfBounds(ValueError):
    """A declared length that the frame cannot hold."""


# Each field compiles to a skipper, skip(buf, pos, end) -> the position after it, built
# once per schema class: the walk runs on every flexible request, Produce included.
Skipper = typing.Callable[[typing.Any, int, int], int]


def check_flexible_body(cls, buf, pos: int) -> int:
    """Where the flexible body at `pos` ends; LengthOutOfBounds if a length overruns."""
    return _entity_skipper(cls)(buf, pos, len(buf))


@cache
def _entity_skipper(cls) -> Skipper:
    skippers, tagged, fixed = [], {}, 0
    for field in dataclasses.fields(cls):
        annotation, kafka_type = _without_none(field.type), field.metadata.get("kafka_type")
        if "tag" in field.metadata:
            tagged[field.metadata["tag"]] = _skipper(annotation, kafka_type)
        elif kafka_type in _FIXED_SIZES and typing.get_origin(annotation) is not tuple:
            fixed += _FIXED_SIZES[kafka_type]  # runs of fixed-size fields are one step
        else:
            if fixed:
                skippers.append(_fixed(fixed))
                fixed = 0
            skippers.append(_skipper(annotation, kafka_type))
    if fixed:
        skippers.append(_fixed(fixed))
    steps = tuple(skippers)

    def skip_entity(buf, pos: int, end: int) -> int:
        for step in steps:
            pos = step(buf, pos, end)
        count, pos = read_uvarint(buf, pos, end)
        for _ in range(count):
            tag, pos = read_uvarint(buf, pos, end)
            size, pos = read_uvarint(buf, pos, end)
            if size > end - pos:
                raise LengthOutOfBounds(f"tagged field {tag} of {size} bytes overruns "
                                        "the frame")
            if tag in tagged:
                tagged[tag](buf, pos, pos + size)
            pos += size
        return pos
    return skip_entity


def _skipper(annotation, kafka_type: str | None) -> Skipper:
    annotation = _without_none(annotation)
    if typing.get_origin(annotation) is tuple:
        return _array(_skipper(typing.get_args(annotation)[0], kafka_type))
    if dataclasses.is_dataclass(annotation):
        return _entity_skipper(annotation)
    if kafka_type in _FIXED_SIZES:
        return _fixed(_FIXED_SIZES[kafka_type])
    if kafka_type in _LENGTH_PREFIXED:
        return _sized
    raise TypeError(f"no length rule for kafka_type {kafka_type!r}")


def _without_none(annotation):
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _fixed(size: int) -> Skipper:
    def skip_fixed(buf, pos: int, end: int) -> int:
        pos += size
        if pos > end:
            raise LengthOutOfBounds("a value overruns the frame")
        return pos
    return skip_fixed


def _sized(buf, pos: int, end: int) -> int:
    length, pos = read_uvarint(buf, pos, end)  # compact: length + 1, and 0 for null
    if length > end - pos + 1:
        raise LengthOutOfBounds(f"a value of length {length - 1} overruns the frame "
                                f"({end - pos} bytes left)")
    return pos + max(length - 1, 0)


def _array(element: Skipper) -> Skipper:
    def skip_array(buf, pos: int, end: int) -> int:
        count, pos = read_uvarint(buf, pos, end)  # compact: count + 1, and 0 for null
        if count > end - pos + 1:  # every element takes at least one byte
            raise LengthOutOfBounds(f"an array of length {count - 1} overruns the frame "
                                    f"({end - pos} bytes left)")
        for _ in range(count - 1):
            pos = element(buf, pos, end)
        return pos
    return skip_array


def read_uvarint(buf, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the unsigned varint at `pos`, read before `end`."""
    if pos < end and buf[pos] < 0x80:  # the common case: one byte
        return buf[pos], pos + 1
    value = shift = 0
    while True:
        if pos >= end:
            raise LengthOutOfBounds("a varint runs past the end of the frame")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise LengthOutOfBounds("a varint longer than 5 bytes")

"""Build a kio response entity of whatever version a client asked for, from one plain
description — pure.

Each API version is its own generated dataclass with its own set of fields. Adapters
describe a response once, as nested dicts holding every field any version has
(`{"error_code": "NONE", "partitions": [{...}]}`); `build(cls, data)` keeps the fields
`cls` has, converts what kio wants typed (error names to ErrorCode, milliseconds to
timedelta — a `*_ms` key may stand for kio's `*` timedelta field — ids to UUID) and
recurses into nested entities. A field the version requires that the description lacks
is a bug in the adapter: an AssertionError.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
import uuid
from functools import cache
from typing import Any

from kio.schema.errors import ErrorCode

from mini_kafka.errors import BY_NAME

_NO_DEFAULT = object()
_EMPTY = {"string": "", "bytes": b"", "records": b""}
ZERO_UUID = uuid.UUID(int=0)


def error_code(name_or_code) -> ErrorCode:
    if isinstance(name_or_code, ErrorCode):
        return name_or_code
    if isinstance(name_or_code, str):
        known = BY_NAME.get(name_or_code)
        return ErrorCode(known.code if known else -1)
    return ErrorCode(name_or_code)


def _nested_of(t) -> tuple[type | None, bool]:
    """(entity class, is a tuple of them) for a field type, or (None, _) for primitives."""
    if typing.get_origin(t) is tuple:
        arg = typing.get_args(t)[0]
        return (arg if dataclasses.is_dataclass(arg) else None), True
    if typing.get_origin(t) in (typing.Union, types.UnionType):  # optional: look inside
        inner = [a for a in typing.get_args(t) if a is not type(None)]
        return _nested_of(inner[0]) if len(inner) == 1 else (None, False)
    return (t if dataclasses.is_dataclass(t) else None), False


@cache
def _plan(cls) -> tuple:
    plan = []
    for f in dataclasses.fields(cls):
        nested, many = _nested_of(f.type)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _NO_DEFAULT
        nullable = typing.get_origin(f.type) in (typing.Union, types.UnionType) and \
            type(None) in typing.get_args(f.type)
        plan.append((f.name, f.metadata.get("kafka_type"), nested, many, default, nullable))
    return tuple(plan)


def _convert(kind: str | None, value):
    if value is None:
        return None
    if kind == "error_code":
        return error_code(value)
    if kind in ("timedelta_i32", "timedelta_i64"):
        return value if isinstance(value, datetime.timedelta) else \
            datetime.timedelta(milliseconds=value)
    if kind == "uuid":
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value


def build(cls, data: dict[str, Any]):
    values = {}
    for name, kind, nested, many, default, nullable in _plan(cls):
        if name not in data and kind in ("timedelta_i32", "timedelta_i64"):
            name_ms = name + "_ms"  # kio names `throttle_time_ms` `throttle_time`
            if name_ms in data:
                values[name] = _convert(kind, data[name_ms])
                continue
        if name not in data:
            if default is _NO_DEFAULT:
                raise AssertionError(f"{cls.__module__}.{cls.__name__} needs {name!r}")
            continue
        value = data[name]
        if value is None and not nullable and kind in _EMPTY:
            value = _EMPTY[kind]  # "no value" where a version cannot say null (Kafka's "")
        if nested is not None and value is not None:
            value = tuple(build(nested, v) for v in value) if many else build(nested, value)
        elif many and value is not None:
            value = tuple(_convert(kind, v) for v in value)
        else:
            value = _convert(kind, value)
        values[name] = value
    return cls(**values)


def ms(delta) -> int:
    """A kio timedelta field as integer milliseconds."""
    return int(delta / datetime.timedelta(milliseconds=1)) if delta is not None else 0

"""Checks of what callers pass to the clients: a bad argument is refused where it is
passed, with a TypeError or ValueError naming it, before it can reach a batch, a request
or the background loop.

These run off the hot path: send() checks bytes keys and values, no headers and no
explicit partition inline, and calls here only for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Kafka's rule for topic names (the controller enforces the same on creation).
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
INT64_MAX = 2**63 - 1
BYTES_LIKE = (bytes, bytearray, memoryview)


def _type(value) -> str:
    return type(value).__name__


def topic_name(value, name: str = "topic") -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str (a topic name), got {_type(value)}")
    if not TOPIC_NAME.fullmatch(value):
        raise ValueError(f"{name}={value!r} is not a valid topic name: 1-249 characters of "
                         "a-z A-Z 0-9 . _ -")
    return value


def topic_names(values, name: str = "topics") -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set | frozenset):
        raise TypeError(f"{name} must be a list of topic names, got {_type(values)}")
    return [topic_name(v, f"{name}[{i}]") for i, v in enumerate(values)]


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (not a bool, not a float or a numeric string) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_type(value)} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value}: must be at most {maximum}")
    return value


def timeout_s(value, name: str = "timeout") -> float | None:
    """Seconds to wait, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise TypeError(f"{name} must be a number of seconds or None, got {_type(value)} "
                        f"{value!r}")
    if value < 0:
        raise ValueError(f"{name}={value}: must not be negative")
    return float(value)


def timestamp_ms(value) -> int:
    return integer(value, "timestamp_ms (milliseconds since the epoch)", 0, INT64_MAX)


def headers(value) -> tuple[list[tuple[str, bytes | None]] | None, int]:
    """(headers as the batch keeps them, or None when empty; their size in bytes)."""
    if isinstance(value, str | bytes | bytearray | Mapping) or \
            not isinstance(value, list | tuple):
        raise TypeError(f"headers must be a list of (str, bytes) pairs, got {_type(value)}")
    out, size = [], 0
    for i, pair in enumerate(value):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"headers[{i}] must be a (key, value) pair, got {_type(pair)} "
                            f"{pair!r}")
        key, item = pair
        if not isinstance(key, str):
            raise TypeError(f"headers[{i}] key must be a str, got {_type(key)} {key!r}")
        if item is not None:
            if not isinstance(item, BYTES_LIKE):
                raise TypeError(f"headers[{i}] ({key!r}) value must be bytes or None, got "
                                f"{_type(item)}")
            item = bytes(item)
        out.append((key, item))
        size += len(key.encode()) + (0 if item is None else len(item))
    return out or None, size


def topic_partition(value, name: str = "partition") -> tuple[str, int]:
    """A (topic, partition) pair: a TopicPartition or any 2-tuple."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{name} must be a TopicPartition (topic, partition), got "
                        f"{_type(value)} {value!r}")
    return topic_name(value[0], f"{name} topic"), integer(value[1], f"{name} partition", 0)


def topic_partitions(values, name: str = "partitions") -> list[tuple[str, int]]:
    if isinstance(values, str | bytes | Mapping) or \
            not isinstance(values, list | tuple | set | frozenset):
        raise TypeError(f"{name} must be a list of TopicPartitions, got {_type(values)}")
    return [topic_partition(v, f"{name}[{i}]") for i, v in enumerate(values)]


def offsets(values, name: str = "offsets") -> dict[tuple[str, int], tuple[int, str]]:
    """{TopicPartition: offset or OffsetAndMetadata (offset, metadata)} -> {(t, p): (o, m)}."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{name} must be a dict of TopicPartition -> offset, got "
                        f"{_type(values)}")
    out = {}
    for tp, value in values.items():
        tp = topic_partition(tp, f"{name} key")
        what = f"{name}[{tp[0]}-{tp[1]}]"
        if isinstance(value, tuple | list):
            if not 1 <= len(value) <= 2:
                raise TypeError(f"{what} must be an offset or (offset, metadata), got "
                                f"{value!r}")
            offset, metadata = value[0], value[1] if len(value) == 2 else ""
        else:
            offset, metadata = value, ""
        if metadata is None:
            metadata = ""
        if not isinstance(metadata, str):
            raise TypeError(f"{what} metadata must be a str, got {_type(metadata)}")
        out[tp] = (integer(offset, f"{what} offset", 0), metadata)
    return out

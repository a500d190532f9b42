"""RPC messages and their frame codec — pure (no sockets, no zmq).

A message is a list of frames:

    header   struct ">BBHQ" (version, kind, api key, request id) + sender name (utf-8)
    body     JSON object: the small, structured part of a request or reply
    payload  zero or more raw frames (record batches), never parsed or copied here

Record batches travel as their own frames so the transport can hand them over without
copying and the broker can store them without re-encoding. The sender's name is in the
header so that fault rules ("drop everything from broker-2") can be applied on receipt.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

PROTOCOL_VERSION = 1
_HEADER = struct.Struct(">BBHQ")
SENDER_NAME_BYTES_MAX = 255


class Kind(IntEnum):
    REQUEST = 0
    REPLY = 1
    ONEWAY = 2  # no reply expected (Raft messages: the answer is a message of its own)


class ApiKey(IntEnum):
    # Kafka's API keys where an API mirrors Kafka's.
    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DESCRIBE_CONFIGS = 32
    CREATE_PARTITIONS = 37
    DELETE_GROUPS = 42
    ELECT_LEADERS = 43
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    ADD_PARTITIONS_TO_TXN = 24
    ADD_OFFSETS_TO_TXN = 25
    END_TXN = 26
    WRITE_TXN_MARKERS = 27
    TXN_OFFSET_COMMIT = 28
    ALTER_PARTITION = 56
    BROKER_REGISTRATION = 62
    BROKER_HEARTBEAT = 63
    # mini-kafka's own: node administration and the coordinator ensemble.
    STATUS = 1000
    SET_FAULTS = 1001
    RAFT = 1100
    METADATA_POLL = 1101
    CONTROLLER_WRITE = 1102
    # mini-kafka's own, between brokers: a leader asking a follower that has no fetch
    # waiting there to send one (broker/fetch_nudges.py).
    FETCH_NUDGE = 1200


# Which APIs anyone may call (Kafka's client APIs, on a node's open endpoint), and which
# only the cluster's members may (on its authenticated endpoint). Every API is one or the
# other (a test checks), so a new API is a decision, never open by default.
CLIENT_APIS = frozenset({
    ApiKey.PRODUCE, ApiKey.FETCH, ApiKey.LIST_OFFSETS, ApiKey.METADATA,
    ApiKey.OFFSET_COMMIT, ApiKey.OFFSET_FETCH, ApiKey.FIND_COORDINATOR, ApiKey.JOIN_GROUP,
    ApiKey.HEARTBEAT, ApiKey.LEAVE_GROUP, ApiKey.SYNC_GROUP, ApiKey.DESCRIBE_GROUPS,
    ApiKey.LIST_GROUPS, ApiKey.CREATE_TOPICS, ApiKey.DELETE_TOPICS, ApiKey.DESCRIBE_CONFIGS,
    ApiKey.CREATE_PARTITIONS, ApiKey.DELETE_GROUPS, ApiKey.ELECT_LEADERS,
    ApiKey.INIT_PRODUCER_ID,
    ApiKey.OFFSET_FOR_LEADER_EPOCH, ApiKey.ADD_PARTITIONS_TO_TXN, ApiKey.ADD_OFFSETS_TO_TXN,
    ApiKey.END_TXN, ApiKey.TXN_OFFSET_COMMIT,
})
CLUSTER_APIS = frozenset({
    ApiKey.WRITE_TXN_MARKERS, ApiKey.ALTER_PARTITION, ApiKey.BROKER_REGISTRATION,
    ApiKey.BROKER_HEARTBEAT, ApiKey.STATUS, ApiKey.SET_FAULTS, ApiKey.RAFT,
    ApiKey.METADATA_POLL, ApiKey.CONTROLLER_WRITE, ApiKey.FETCH_NUDGE,
})


class ProtocolError(ValueError):
    """A frame sequence that is not a well-formed message (INVALID_REQUEST), or one past
    a bound (MESSAGE_TOO_LARGE)."""

    def __init__(self, message: str, error: str = "INVALID_REQUEST"):
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class Bounds:
    """What one message may be. None: no bound (replies from the cluster's own nodes)."""
    message_bytes_max: int | None = None
    message_frames_max: int | None = None
    nesting_levels_max: int = 32


REPLY_BOUNDS = Bounds()


@dataclass
class Message:
    kind: Kind
    api: int
    request_id: int
    sender: str
    body: dict[str, Any] = field(default_factory=dict)
    payloads: list[Any] = field(default_factory=list)  # bytes-like (bytes, memoryview, Frame)

    @property
    def error(self) -> str:
        """The reply's error name ("NONE" on success)."""
        return self.body.get("error", "NONE")

    def reply(self, body: dict[str, Any] | None = None, payloads: list[Any] | None = None,
              *, sender: str) -> Message:
        out = {"error": "NONE"}
        if body:
            out.update(body)
        return Message(Kind.REPLY, self.api, self.request_id, sender, out, payloads or [])

    def error_reply(self, error: str, message: str, *, sender: str) -> Message:
        return Message(Kind.REPLY, self.api, self.request_id, sender,
                       {"error": error, "message": message})


def api_name(api: int) -> str:
    try:
        return ApiKey(api).name
    except ValueError:
        return f"API_{api}"


def encode(msg: Message) -> list[Any]:
    sender = msg.sender.encode()
    assert len(sender) <= SENDER_NAME_BYTES_MAX, f"sender name too long: {msg.sender!r}"
    header = _HEADER.pack(PROTOCOL_VERSION, msg.kind, msg.api, msg.request_id) + sender
    body = json.dumps(msg.body, separators=(",", ":")).encode()
    return [header, body, *msg.payloads]


def peek_request_id(frames: list[Any]) -> int | None:
    """The request id of a possibly malformed message, so an error reply can be matched."""
    if frames and len(frames[0]) >= _HEADER.size:
        return _HEADER.unpack_from(frames[0])[3]
    return None


def check_size(frames: list[Any], bounds: Bounds) -> None:
    """MESSAGE_TOO_LARGE past the frame count or the total size: checked before anything
    is decoded, so an oversized message costs a sum, not a parse."""
    if bounds.message_frames_max is not None and len(frames) > bounds.message_frames_max:
        raise ProtocolError(f"{len(frames)} frames in one message; at most "
                            f"{bounds.message_frames_max}", "MESSAGE_TOO_LARGE")
    if bounds.message_bytes_max is not None:
        total = sum(len(f) for f in frames)
        if total > bounds.message_bytes_max:
            raise ProtocolError(f"a message of {total} bytes; at most "
                                f"{bounds.message_bytes_max}", "MESSAGE_TOO_LARGE")


def decode(frames: list[Any], bounds: Bounds = REPLY_BOUNDS) -> Message:
    """Frames -> Message. Payload frames are passed through as they are (not copied)."""
    check_size(frames, bounds)
    if len(frames) < 2:
        raise ProtocolError(
            f"a message needs a header and a body frame, got {len(frames)} frame(s)")
    header = frames[0]
    if len(header) < _HEADER.size:
        raise ProtocolError(f"header of {len(header)} bytes is shorter than {_HEADER.size}")
    if len(header) - _HEADER.size > SENDER_NAME_BYTES_MAX:
        raise ProtocolError(f"a sender name of {len(header) - _HEADER.size} bytes; at most "
                            f"{SENDER_NAME_BYTES_MAX}")
    version, kind, api, request_id = _HEADER.unpack_from(header)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version} (expected {PROTOCOL_VERSION})")
    try:
        kind = Kind(kind)
    except ValueError:
        raise ProtocolError(f"unknown message kind {kind}") from None
    raw_body = bytes(frames[1])
    try:
        sender = bytes(header[_HEADER.size:]).decode()
        body = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"undecodable header or body: {e}") from None
    except RecursionError:  # not a ValueError: json gives up on deep nesting this way
        raise ProtocolError(f"body nests deeper than {bounds.nesting_levels_max} "
                            "levels") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"body must be a JSON object, got {type(body).__name__}")
    # Fewer brackets than the bound cannot nest deeper: most bodies skip the walk.
    if raw_body.count(b"[") + raw_body.count(b"{") > bounds.nesting_levels_max and \
            _nests_deeper(body, bounds.nesting_levels_max):
        raise ProtocolError(f"body nests deeper than {bounds.nesting_levels_max} levels")
    return Message(kind, api, request_id, sender, body, list(frames[2:]))


def _nests_deeper(value: Any, levels_max: int) -> bool:
    """Whether `value` nests containers deeper than levels_max (the body itself is 1);
    iterative, so the check cannot itself run out of stack."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > levels_max:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return False

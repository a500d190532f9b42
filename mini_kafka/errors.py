"""Wire errors with Kafka's names and codes, each carrying the policy clients act on.

`retriable`: the same request may succeed if sent again (after a backoff).
`refresh_metadata`: the client's view of leaders is stale; refresh before retrying.
Bad input from a peer or a user becomes one of these in a reply; a broken invariant is an
AssertionError that crashes the process instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    name: str
    code: int
    retriable: bool = False
    refresh_metadata: bool = False

    def __str__(self) -> str:
        return self.name


_R, _M = "retriable", "refresh"
# (name, Kafka's numeric code, flags)
_TABLE = [
    ("NONE", 0, ()),
    ("UNKNOWN_SERVER_ERROR", -1, ()),
    ("OFFSET_OUT_OF_RANGE", 1, ()),
    ("CORRUPT_MESSAGE", 2, (_R,)),
    ("UNKNOWN_TOPIC_OR_PARTITION", 3, (_R, _M)),
    ("LEADER_NOT_AVAILABLE", 5, (_R, _M)),
    ("NOT_LEADER_OR_FOLLOWER", 6, (_R, _M)),
    ("REQUEST_TIMED_OUT", 7, (_R,)),
    ("BROKER_NOT_AVAILABLE", 8, (_R, _M)),
    ("MESSAGE_TOO_LARGE", 10, ()),
    ("NETWORK_EXCEPTION", 13, (_R, _M)),
    ("COORDINATOR_LOAD_IN_PROGRESS", 14, (_R,)),
    ("COORDINATOR_NOT_AVAILABLE", 15, (_R, _M)),
    ("NOT_COORDINATOR", 16, (_R, _M)),
    ("INVALID_TOPIC_EXCEPTION", 17, ()),
    ("RECORD_LIST_TOO_LARGE", 18, ()),
    ("NOT_ENOUGH_REPLICAS", 19, (_R,)),
    ("NOT_ENOUGH_REPLICAS_AFTER_APPEND", 20, (_R,)),
    ("INVALID_REQUIRED_ACKS", 21, ()),
    ("ILLEGAL_GENERATION", 22, ()),
    ("INCONSISTENT_GROUP_PROTOCOL", 23, ()),
    ("INVALID_GROUP_ID", 24, ()),
    ("UNKNOWN_MEMBER_ID", 25, ()),
    ("INVALID_SESSION_TIMEOUT", 26, ()),
    ("REBALANCE_IN_PROGRESS", 27, ()),
    ("INVALID_COMMIT_OFFSET_SIZE", 28, ()),
    ("TOPIC_AUTHORIZATION_FAILED", 29, ()),
    ("GROUP_AUTHORIZATION_FAILED", 30, ()),
    ("CLUSTER_AUTHORIZATION_FAILED", 31, ()),
    ("INVALID_TIMESTAMP", 32, ()),
    ("UNSUPPORTED_SASL_MECHANISM", 33, ()),
    ("UNSUPPORTED_VERSION", 35, ()),
    ("TOPIC_ALREADY_EXISTS", 36, ()),
    ("INVALID_PARTITIONS", 37, ()),
    ("INVALID_REPLICATION_FACTOR", 38, ()),
    ("INVALID_REPLICA_ASSIGNMENT", 39, ()),
    ("INVALID_CONFIG", 40, ()),
    ("NOT_CONTROLLER", 41, (_R, _M)),
    ("INVALID_REQUEST", 42, ()),
    ("UNSUPPORTED_FOR_MESSAGE_FORMAT", 43, ()),
    ("POLICY_VIOLATION", 44, ()),
    ("OUT_OF_ORDER_SEQUENCE_NUMBER", 45, ()),
    ("DUPLICATE_SEQUENCE_NUMBER", 46, ()),
    ("INVALID_PRODUCER_EPOCH", 47, ()),
    ("INVALID_TXN_STATE", 48, ()),
    ("INVALID_PRODUCER_ID_MAPPING", 49, ()),
    ("INVALID_TRANSACTION_TIMEOUT", 50, ()),
    ("CONCURRENT_TRANSACTIONS", 51, (_R,)),
    ("TRANSACTION_COORDINATOR_FENCED", 52, ()),
    ("TRANSACTIONAL_ID_AUTHORIZATION_FAILED", 53, ()),
    ("KAFKA_STORAGE_ERROR", 56, (_R, _M)),
    ("UNKNOWN_PRODUCER_ID", 59, ()),
    ("NON_EMPTY_GROUP", 68, ()),
    ("GROUP_ID_NOT_FOUND", 69, ()),
    ("FETCH_SESSION_ID_NOT_FOUND", 70, (_R,)),
    ("INVALID_FETCH_SESSION_EPOCH", 71, (_R,)),
    ("FENCED_LEADER_EPOCH", 74, (_R, _M)),
    ("UNKNOWN_LEADER_EPOCH", 75, (_R, _M)),
    ("UNSUPPORTED_COMPRESSION_TYPE", 76, ()),
    ("STALE_BROKER_EPOCH", 77, ()),
    ("OFFSET_NOT_AVAILABLE", 78, (_R,)),
    ("MEMBER_ID_REQUIRED", 79, ()),
    ("FENCED_INSTANCE_ID", 82, ()),
    ("PREFERRED_LEADER_NOT_AVAILABLE", 80, (_R, _M)),
    ("ELIGIBLE_LEADERS_NOT_AVAILABLE", 83, (_R, _M)),
    ("ELECTION_NOT_NEEDED", 84, (_R, _M)),
    ("GROUP_SUBSCRIBED_TO_TOPIC", 86, ()),
    ("INVALID_RECORD", 87, ()),
    ("UNSTABLE_OFFSET_COMMIT", 88, (_R,)),
    ("THROTTLING_QUOTA_EXCEEDED", 89, (_R,)),
    ("PRODUCER_FENCED", 90, ()),
    ("INVALID_UPDATE_VERSION", 95, ()),
    ("UNKNOWN_TOPIC_ID", 100, (_R, _M)),
    ("BROKER_ID_NOT_REGISTERED", 102, ()),
    ("INELIGIBLE_REPLICA", 107, ()),
]

BY_NAME: dict[str, ErrorCode] = {}
BY_CODE: dict[int, ErrorCode] = {}
for _name, _code, _flags in _TABLE:
    _err = ErrorCode(_name, _code, _R in _flags, _M in _flags)
    BY_NAME[_name] = _err
    BY_CODE[_code] = _err
    globals()[_name] = _err


def error_named(name: str) -> ErrorCode:
    """The ErrorCode for a wire name; an unknown name (a newer peer?) is a server error."""
    return BY_NAME.get(name, BY_NAME["UNKNOWN_SERVER_ERROR"])


class KafkaError(Exception):
    """An error with a Kafka error code, raised to users and carried in replies."""

    def __init__(self, error: ErrorCode | str, message: str = ""):
        self.error = error if isinstance(error, ErrorCode) else error_named(error)
        self.message = message
        super().__init__(f"{self.error.name}: {message}" if message else self.error.name)

    @property
    def retriable(self) -> bool:
        return self.error.retriable

    @property
    def refresh_metadata(self) -> bool:
        return self.error.refresh_metadata


class KafkaTimeoutError(KafkaError):
    """No answer within the caller's deadline (after any retries)."""

    def __init__(self, message: str):
        super().__init__(BY_NAME["REQUEST_TIMED_OUT"], message)

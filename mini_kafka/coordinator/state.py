"""The metadata state machine — pure and deterministic.

Every committed Raft entry is a command; every coordinator applies it to the same state
and so reaches the same decisions (placement, elections), including the errors. A
command's effects are change records (see mini_kafka/metadata.py) at the entry's index,
the metadata offset, kept in a bounded history that brokers read to follow along.

Time never enters here: the controller decides *when* (a session expired) and proposes
a command; this module decides *what* it means.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from typing import Any

from mini_kafka.config import ClusterConfig
from mini_kafka.metadata import NO_LEADER, MetadataImage
from mini_kafka.topic_config import InvalidTopicConfig, effective, parse_overrides

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
PARTITIONS_MAX = 10_000
FIRST_PRODUCER_ID = 1000


# op -> required fields and their types. Checked before a command is proposed and again
# when it is applied: a malformed entry must never reach a handler, or it would fail on
# every replica, at every replay.
COMMAND_FIELDS: dict[str, dict[str, type | tuple]] = {
    "register_broker": {"broker_id": int, "endpoint": str, "incarnation": str},
    "unfence_broker": {"broker_id": int, "broker_epoch": int},
    "fence_broker": {"broker_id": int, "broker_epoch": int},
    "create_topic": {"name": str, "partitions": int, "replication_factor": int},
    "delete_topic": {"name": str},
    "alter_partition": {"topic": str, "partition": int, "leader": int, "leader_epoch": int,
                        "partition_epoch": int, "isr": list},
    "elect_preferred_leaders": {},
    "init_producer_id": {},
}


def check_command(command: Any) -> str | None:
    """What is wrong with a command, or None if it is well-formed."""
    if not isinstance(command, dict):
        return "a command must be an object"
    fields = COMMAND_FIELDS.get(command.get("op"))
    if fields is None:
        return f"unknown command {command.get('op')!r}"
    for name, kind in fields.items():
        value = command.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{command['op']}: field {name!r} must be {kind.__name__}, got {value!r}"
    if command["op"] == "alter_partition" and not all(
            isinstance(b, int) and not isinstance(b, bool) for b in command["isr"]):
        return "alter_partition: isr must be a list of broker ids"
    if command["op"] == "create_topic" and not isinstance(command.get("configs") or {}, dict):
        return "create_topic: configs must be an object"
    return None


def _error(name: str, message: str) -> dict[str, Any]:
    return {"error": name, "message": message}


OK = {"error": "NONE"}


class MetadataState:
    def __init__(self, config: ClusterConfig, history_entries_max: int = 10_000):
        self.config = config
        self.image = MetadataImage()
        self.next_producer_id = FIRST_PRODUCER_ID
        self.history: deque[tuple[int, list[dict]]] = deque()
        self.history_start = 0  # history holds every change after this offset
        self.history_entries_max = history_entries_max

    @property
    def offset(self) -> int:
        return self.image.offset

    # -- applying -------------------------------------------------------------------------

    def apply(self, offset: int, command: dict[str, Any] | None) -> dict[str, Any]:
        """Apply the command committed at `offset`; returns its result for the proposer."""
        records: list[dict] = []
        result = OK
        if command is not None:  # None: a new leader's no-op
            problem = check_command(command)
            if problem:
                result = _error("INVALID_REQUEST", problem)
            else:
                result = getattr(self, f"_cmd_{command['op']}")(command, offset, records)
        self.image.apply(offset, records)
        if records:
            self.history.append((offset, records))
            while len(self.history) > self.history_entries_max:
                self.history_start = self.history.popleft()[0]
        return result

    def changes_after(self, offset: int) -> list[tuple[int, list[dict]]] | None:
        """Changes with offsets above `offset`, or None when history no longer reaches
        back that far (the reader needs a snapshot)."""
        if offset < self.history_start:
            return None
        return [(o, r) for o, r in self.history if o > offset]

    def to_snapshot(self) -> dict[str, Any]:
        return {"image": self.image.to_snapshot(), "next_producer_id": self.next_producer_id}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.image = MetadataImage.from_snapshot(snapshot["image"])
        self.next_producer_id = snapshot["next_producer_id"]
        self.history.clear()
        self.history_start = self.image.offset

    # -- brokers --------------------------------------------------------------------------

    def _cmd_register_broker(self, c, offset, records):
        broker_id, incarnation = c["broker_id"], c["incarnation"]
        known = self.image.brokers.get(broker_id)
        if known and known["incarnation"] == incarnation:
            return {**OK, "broker_epoch": known["epoch"]}  # a retried registration
        broker = {"id": broker_id, "endpoint": c["endpoint"], "epoch": offset,
                  "incarnation": incarnation, "fenced": True}
        self._put_broker(broker, records)
        # A new incarnation has lost its old sessions: it re-earns ISR membership.
        self._leave_everything(broker_id, records)
        return {**OK, "broker_epoch": offset}

    def _cmd_unfence_broker(self, c, offset, records):
        broker = self._current_broker(c)
        if broker is None:
            return _error("STALE_BROKER_EPOCH", "unknown broker or stale broker epoch")
        if broker["fenced"]:
            self._put_broker({**broker, "fenced": False}, records)
            for p in self._sorted_partitions():
                if p["leader"] != NO_LEADER:
                    continue
                if c["broker_id"] in p["isr"]:
                    self._put_partition(p, records, leader=c["broker_id"], bump_leader=True)
                elif self._unclean(p["topic"]) and c["broker_id"] in p["replicas"]:
                    self._put_partition(p, records, leader=c["broker_id"],
                                        isr=[c["broker_id"]], bump_leader=True)
        return OK

    def _cmd_fence_broker(self, c, offset, records):
        broker = self._current_broker(c)
        if broker is None:
            return _error("STALE_BROKER_EPOCH", "unknown broker or stale broker epoch")
        if not broker["fenced"]:
            self._put_broker({**broker, "fenced": True}, records)
            self._leave_everything(c["broker_id"], records)
        return OK

    def _current_broker(self, c) -> dict | None:
        broker = self.image.brokers.get(c["broker_id"])
        if broker is None or broker["epoch"] != c["broker_epoch"]:
            return None
        return broker

    def _leave_everything(self, broker_id: int, records) -> None:
        """In one change: leave every ISR (unless last) and hand over every leadership."""
        for p in self._sorted_partitions():
            if broker_id not in p["isr"] and p["leader"] != broker_id:
                continue
            isr = [b for b in p["isr"] if b != broker_id] or p["isr"]
            if p["leader"] == broker_id:
                leader, isr = self._elect(p, isr, exclude=broker_id)
                self._put_partition(p, records, leader=leader, isr=isr, bump_leader=True)
            elif isr != p["isr"]:
                self._put_partition(p, records, isr=isr)

    def _elect(self, p: dict, isr: list[int], exclude: int) -> tuple[int, list[int]]:
        """A new leader from the ISR, in replica order; unclean (out of the ISR) only when
        the topic allows it. NO_LEADER keeps the ISR so its last member can return."""
        live = set(self.image.unfenced_broker_ids()) - {exclude}
        for r in p["replicas"]:
            if r in isr and r in live:
                return r, isr
        if self._unclean(p["topic"]):
            for r in p["replicas"]:
                if r in live:
                    return r, [r]
        return NO_LEADER, isr

    def _unclean(self, topic: str) -> bool:
        overrides = self.image.topics[topic]["configs"]
        return effective(self.config, overrides)["unclean.leader.election.enable"]

    # -- topics ---------------------------------------------------------------------------

    def _cmd_create_topic(self, c, offset, records):
        name, count, rf = c["name"], c["partitions"], c["replication_factor"]
        if not TOPIC_NAME.match(name) or name in (".", ".."):
            return _error("INVALID_TOPIC_EXCEPTION",
                          f"topic name {name!r} must be 1-249 characters of a-z A-Z 0-9 . _ -")
        if name in self.image.topics:
            return _error("TOPIC_ALREADY_EXISTS", f"topic {name!r} already exists")
        if not isinstance(count, int) or not 1 <= count <= PARTITIONS_MAX:
            return _error("INVALID_PARTITIONS",
                          f"partitions {count!r} must be between 1 and {PARTITIONS_MAX}")
        brokers = self.image.unfenced_broker_ids()
        if not isinstance(rf, int) or rf < 1 or rf > len(brokers):
            return _error("INVALID_REPLICATION_FACTOR",
                          f"replication factor {rf!r} must be between 1 and the "
                          f"{len(brokers)} available broker(s)")
        try:
            configs = parse_overrides(c.get("configs") or {})
        except InvalidTopicConfig as e:
            return _error("INVALID_CONFIG", str(e))
        topic = {"name": name, "partitions": count, "replication_factor": rf,
                 "configs": configs}
        records.append({"type": "topic", **topic})
        self.image.topics[name] = topic  # visible to placement below; re-set by apply
        # Spread leaders and replicas: partition p starts at broker (start + p).
        start = zlib.crc32(name.encode()) % len(brokers)
        for p in range(count):
            replicas = [brokers[(start + p + j) % len(brokers)] for j in range(rf)]
            records.append({"type": "partition", "topic": name, "partition": p,
                            "replicas": replicas, "leader": replicas[0], "leader_epoch": 0,
                            "isr": list(replicas), "partition_epoch": 0})
        return {**OK, "topic": topic}

    def _cmd_delete_topic(self, c, offset, records):
        if c["name"] not in self.image.topics:
            return _error("UNKNOWN_TOPIC_OR_PARTITION", f"topic {c['name']!r} does not exist")
        records.append({"type": "topic_removed", "name": c["name"]})
        return OK

    # -- partitions -----------------------------------------------------------------------

    def _cmd_alter_partition(self, c, offset, records):
        """A partition leader's ISR change, checked against its epochs (KIP-497)."""
        p = self.image.partition(c["topic"], c["partition"])
        if p is None:
            return _error("UNKNOWN_TOPIC_OR_PARTITION", f"{c['topic']}/{c['partition']}")
        if c["leader"] != p["leader"] or c["leader_epoch"] != p["leader_epoch"]:
            return _error("FENCED_LEADER_EPOCH",
                          f"leader {c['leader']} epoch {c['leader_epoch']} is not the current "
                          f"leader {p['leader']} epoch {p['leader_epoch']}")
        if c["partition_epoch"] != p["partition_epoch"]:
            return _error("INVALID_UPDATE_VERSION",
                          f"partition epoch {c['partition_epoch']} is stale "
                          f"(now {p['partition_epoch']})")
        isr = c["isr"]
        if p["leader"] not in isr or not set(isr) <= set(p["replicas"]) or \
                len(set(isr)) != len(isr):
            return _error("INVALID_REQUEST",
                          f"ISR {isr} must hold the leader and only replicas {p['replicas']}")
        unfenced = set(self.image.unfenced_broker_ids())
        joining = [b for b in isr if b not in p["isr"] and b not in unfenced]
        if joining:
            return _error("INELIGIBLE_REPLICA", f"fenced broker(s) {joining} cannot join")
        new = self._put_partition(p, records, isr=list(isr))
        return {**OK, "partition": new}

    def _cmd_elect_preferred_leaders(self, c, offset, records):
        unfenced = set(self.image.unfenced_broker_ids())
        moved = 0
        for p in self._sorted_partitions():
            preferred = p["replicas"][0]
            if p["leader"] != preferred and preferred in p["isr"] and preferred in unfenced:
                self._put_partition(p, records, leader=preferred, bump_leader=True)
                moved += 1
        return {**OK, "moved": moved}

    def _cmd_init_producer_id(self, c, offset, records):
        producer_id = self.next_producer_id
        self.next_producer_id += 1
        return {**OK, "producer_id": producer_id, "producer_epoch": 0}

    # -- helpers --------------------------------------------------------------------------

    def _sorted_partitions(self) -> list[dict]:
        return [self.image.partitions[k] for k in sorted(self.image.partitions)]

    def _put_broker(self, broker: dict, records) -> None:
        records.append({"type": "broker", **broker})
        self.image.brokers[broker["id"]] = broker  # later steps of this command see it

    def _put_partition(self, p: dict, records, *, leader: int | None = None,
                       isr: list[int] | None = None, bump_leader: bool = False) -> dict:
        new = dict(p)
        if leader is not None:
            new["leader"] = leader
        if isr is not None:
            new["isr"] = isr
        if bump_leader:
            new["leader_epoch"] = p["leader_epoch"] + 1
        new["partition_epoch"] = p["partition_epoch"] + 1
        records.append({"type": "partition", **new})
        self.image.partitions[f"{p['topic']}/{p['partition']}"] = new
        return new

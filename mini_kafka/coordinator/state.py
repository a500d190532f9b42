"""The metadata state machine — pure and deterministic.

Every committed Raft entry is a command; every coordinator applies it to the same state
and so reaches the same decisions (placement, elections), including the errors. A
command's effects are change records (see mini_kafka/metadata.py) at the entry's index,
the metadata offset, kept in a bounded history that brokers read to follow along.

Time never enters here: the controller decides *when* (a session expired) and proposes
a command; this module decides *what* it means.

Brokers report replicas they cannot serve (offline: a storage error such as a full
disk) and replicas that lost data when opened (damaged: corruption cut their log). An
offline replica leaves its ISR and cannot lead until reported back. A damaged one is no
longer in sync, and if it was the last member of its ISR, the eligible leader replicas
take its place: the replicas that left the ISR while it was smaller than
min.insync.replicas (a shrink that stopped acks=all writes), so each holds every record
ever acknowledged to acks=all (Kafka's KIP-966 ELR, used here only for this case).
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections import deque
from typing import Any

from mini_kafka.config import ClusterConfig
from mini_kafka.coordinator.commands import check_command
from mini_kafka.coordinator.history import ChangeHistory
from mini_kafka.metadata import NO_LEADER, MetadataImage
from mini_kafka.topic_config import InvalidTopicConfig, effective, parse_overrides

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
PARTITIONS_MAX = 10_000
FIRST_PRODUCER_ID = 1000
TOPIC_ID_NAMESPACE = uuid.UUID("6d696e69-6b61-666b-612d-746f70696373")


def _error(name: str, message: str) -> dict[str, Any]:
    return {"error": name, "message": message}


def check_new_topic(image: MetadataImage, name: str, count: Any, rf: Any,
                    raw_configs: dict) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the error result, or None) and the parsed config overrides for a topic about to be
    created — also what a broker answers to CreateTopics with validate_only."""
    if not isinstance(name, str) or not TOPIC_NAME.match(name) or name in (".", ".."):
        return _error("INVALID_TOPIC_EXCEPTION",
                      f"topic name {name!r} must be 1-249 characters of a-z A-Z 0-9 . _ -"), {}
    if name in image.topics:
        return _error("TOPIC_ALREADY_EXISTS", f"topic {name!r} already exists"), {}
    if not isinstance(count, int) or not 1 <= count <= PARTITIONS_MAX:
        return _error("INVALID_PARTITIONS",
                      f"partitions {count!r} must be between 1 and {PARTITIONS_MAX}"), {}
    brokers = image.unfenced_broker_ids()
    if not isinstance(rf, int) or rf < 1 or rf > len(brokers):
        return _error("INVALID_REPLICATION_FACTOR",
                      f"replication factor {rf!r} must be between 1 and the "
                      f"{len(brokers)} available broker(s)"), {}
    try:
        return None, parse_overrides(raw_configs)
    except InvalidTopicConfig as e:
        return _error("INVALID_CONFIG", str(e)), {}


def check_min_insync(config: ClusterConfig, rf: int, overrides: dict[str, Any]
                     ) -> dict[str, Any] | None:
    """The error for a topic whose min.insync.replicas (its own, or the cluster default it
    would inherit) exceeds its replication factor: it could never acknowledge an acks=all
    write, and a producer would retry NOT_ENOUGH_REPLICAS until its delivery timeout."""
    min_isr = effective(config, overrides)["min.insync.replicas"]
    if min_isr <= rf:
        return None
    source = "" if "min.insync.replicas" in overrides else \
        " (the cluster default, topics.min_insync_replicas)"
    return _error("INVALID_CONFIG",
                  f"min.insync.replicas {min_isr}{source} exceeds the replication factor "
                  f"{rf}: an acks=all write could never be acknowledged; give "
                  f"min.insync.replicas={rf} or less, or a replication factor of at least "
                  f"{min_isr}")


OK = {"error": "NONE"}


class MetadataState:
    def __init__(self, config: ClusterConfig, history_entries_max: int = 10_000):
        self.config = config
        self.image = MetadataImage()
        self.next_producer_id = FIRST_PRODUCER_ID
        self.changes = ChangeHistory(history_entries_max)

    @property
    def offset(self) -> int:
        return self.image.offset

    @property
    def history(self) -> deque[tuple[int, list[dict]]]:
        return self.changes.entries

    @property
    def history_start(self) -> int:
        return self.changes.start

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
            self.changes.append(offset, records)
        return result

    def changes_after(self, offset: int) -> list[tuple[int, list[dict]]] | None:
        """Changes with offsets above `offset`, or None when history no longer reaches
        back that far (the reader needs a snapshot)."""
        return self.changes.after(offset)

    def to_snapshot(self) -> dict[str, Any]:
        return {"image": self.image.to_snapshot(), "next_producer_id": self.next_producer_id}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.image = MetadataImage.from_snapshot(snapshot["image"])
        self.next_producer_id = snapshot["next_producer_id"]
        self.changes.reset(self.image.offset)

    # -- brokers --------------------------------------------------------------------------

    def _cmd_register_broker(self, c, offset, records):
        broker_id, incarnation = c["broker_id"], c["incarnation"]
        known = self.image.brokers.get(broker_id)
        if known and known["incarnation"] == incarnation:
            return {**OK, "broker_epoch": known["epoch"]}  # a retried registration
        broker = {"id": broker_id, "endpoint": c["endpoint"], "epoch": offset,
                  "incarnation": incarnation, "fenced": True,
                  "kafka_endpoint": c.get("kafka_endpoint")}
        self._put_broker(broker, records)
        # A new incarnation has lost its old sessions: it re-earns ISR membership.
        self._leave_everything(broker_id, records)
        return {**OK, "broker_epoch": offset}

    def _cmd_unfence_broker(self, c, offset, records):
        broker = self._current_broker(c)
        if broker is None:
            return _error("STALE_BROKER_EPOCH", "unknown broker or stale broker epoch")
        self._report(broker, c, records)  # first: it must not lead what it cannot serve
        broker = self.image.brokers[c["broker_id"]]
        if broker["fenced"]:
            self._put_broker({**broker, "fenced": False}, records)
            for p in self._sorted_partitions():
                if p["leader"] != NO_LEADER or not self._can_lead(c["broker_id"], p):
                    continue
                if c["broker_id"] in p["isr"]:
                    self._put_partition(p, records, leader=c["broker_id"], bump_leader=True)
                elif self._unclean(p["topic"]) and c["broker_id"] in p["replicas"]:
                    self._put_partition(p, records, leader=c["broker_id"],
                                        isr=[c["broker_id"]], bump_leader=True)
        return OK

    def _cmd_report_replicas(self, c, offset, records):
        broker = self._current_broker(c)
        if broker is None:
            return _error("STALE_BROKER_EPOCH", "unknown broker or stale broker epoch")
        self._report(broker, c, records)
        return OK

    def _report(self, broker: dict, c: dict, records) -> None:
        """Take in a broker's offline and damaged replicas (unknown keys are ignored)."""
        b = broker["id"]
        hosted = {k for k, p in self.image.partitions.items() if b in p["replicas"]}
        offline = sorted(set(c.get("offline_replicas", [])) & hosted)
        known_damaged = set(broker.get("damaged", []))
        damaged = sorted((set(c.get("damaged_replicas", [])) & hosted) - known_damaged)
        was_offline = set(broker.get("offline", []))
        if offline == sorted(was_offline) and not damaged:
            return
        self._put_broker({**broker, "offline": offline,
                          "damaged": sorted(known_damaged | set(damaged))}, records)
        for key in damaged:
            self._forget_damaged(self.image.partitions[key], b, records)
        for key in sorted(set(offline) - was_offline):
            self._leave_partition(self.image.partitions[key], b, records)
        for key in sorted(was_offline - set(offline)):  # back: lead if nobody else can
            p = self.image.partitions.get(key)
            if p and p["leader"] == NO_LEADER and b in p["isr"] and self._can_lead(b, p):
                self._put_partition(p, records, leader=b, bump_leader=True)

    def _forget_damaged(self, p: dict, b: int, records) -> None:
        """Replica b of p lost data: it is out of the ISR (and the ELR); if it was the
        last in-sync replica, the eligible leader replicas replace it. With none, it
        stays: a shortened copy is then the best there is."""
        elr = [r for r in p.get("elr", []) if r != b]
        if b not in p["isr"]:
            if elr != p.get("elr", []):
                self._put_partition(p, records, elr=elr)
            return
        isr = [r for r in p["isr"] if r != b]
        if not isr:
            isr, elr = (elr, []) if elr else ([b], elr)
        leader = p["leader"] if p["leader"] in isr and p["leader"] != b else NO_LEADER
        if leader == NO_LEADER:
            leader, isr = self._elect(p, isr, exclude=b if b not in isr else NO_LEADER)
        self._put_partition(p, records, leader=leader, isr=isr, elr=elr,
                            bump_leader=leader != p["leader"])

    def _cmd_fence_broker(self, c, offset, records):
        """One broker (a controlled shutdown, or a log written before fence_brokers)."""
        broker = self._current_broker(c)
        if broker is None:
            return _error("STALE_BROKER_EPOCH", "unknown broker or stale broker epoch")
        self._fence_all([broker], records)
        return OK

    def _cmd_fence_brokers(self, c, offset, records):
        """Many brokers at once (a mass failure), in one change: every one is fenced
        before any partition is re-led, so no new leader is one about to be fenced too.
        A broker whose epoch is stale (it has registered again since) is left alone."""
        current, stale = [], []
        for b in c["brokers"]:
            broker = self._current_broker(b)
            (current if broker is not None else stale).append(broker or b)
        fenced = self._fence_all(current, records)
        return {**OK, "fenced": fenced, "stale": sorted(b["broker_id"] for b in stale)}

    def _fence_all(self, brokers: list[dict], records) -> list[int]:
        """Fence the unfenced ones of `brokers`; each partition they were in changes once.
        The ISR loses them in the given order, each leaving unless last, as if fenced one
        by one; its leader is then elected among the brokers still unfenced."""
        leaving = [b["id"] for b in brokers if not b["fenced"]]
        for b in brokers:
            if not b["fenced"]:
                self._put_broker({**b, "fenced": True}, records)
        if not leaving:
            return []
        gone = set(leaving)
        for p in self._sorted_partitions():
            if gone.isdisjoint(p["isr"]) and p["leader"] not in gone:
                continue
            isr = p["isr"]
            for b in leaving:
                isr = [r for r in isr if r != b] or isr
            if p["leader"] in gone:
                leader, isr = self._elect(p, isr, exclude=p["leader"])
                self._put_partition(p, records, leader=leader, isr=isr, bump_leader=True)
            elif isr != p["isr"]:
                self._put_partition(p, records, isr=isr)
        return sorted(leaving)

    def _current_broker(self, c) -> dict | None:
        broker = self.image.brokers.get(c["broker_id"])
        if broker is None or broker["epoch"] != c["broker_epoch"]:
            return None
        return broker

    def _leave_everything(self, broker_id: int, records) -> None:
        """In one change: leave every ISR (unless last) and hand over every leadership."""
        for p in self._sorted_partitions():
            self._leave_partition(p, broker_id, records)

    def _leave_partition(self, p: dict, broker_id: int, records) -> None:
        """Leave p's ISR (unless last) and hand over its leadership."""
        if broker_id not in p["isr"] and p["leader"] != broker_id:
            return
        isr = [b for b in p["isr"] if b != broker_id] or p["isr"]
        if p["leader"] == broker_id:
            leader, isr = self._elect(p, isr, exclude=broker_id)
            self._put_partition(p, records, leader=leader, isr=isr, bump_leader=True)
        elif isr != p["isr"]:
            self._put_partition(p, records, isr=isr)

    def _can_lead(self, b: int, p: dict) -> bool:
        """Unfenced, and able to serve p (not offline there)."""
        broker = self.image.brokers.get(b)
        return broker is not None and not broker["fenced"] and \
            f"{p['topic']}/{p['partition']}" not in broker.get("offline", [])

    def _elect(self, p: dict, isr: list[int], exclude: int) -> tuple[int, list[int]]:
        """A new leader from the ISR, in replica order; unclean (out of the ISR) only when
        the topic allows it. NO_LEADER keeps the ISR so its last member can return."""
        live = {b for b in p["replicas"] if self._can_lead(b, p)} - {exclude}
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

    def check_proposal(self, command: dict[str, Any]) -> dict[str, Any] | None:
        """An error for a well-formed command the controller must not propose, the answer
        to one it need not propose, or None.

        Checked before proposing, not when applying: an entry committed by an earlier
        version must replay to the same result, so a topic created before a check existed
        does not vanish when the log is replayed."""
        if command.get("op") == "alter_partition":
            # Refused now, it would be refused when applied: an ISR change from a stale
            # leader (or naming a fenced broker) costs no Raft write.
            return self._check_alter(command)
        if command.get("op") == "alter_partitions":
            problems = [self._check_alter(c) for c in command["changes"]]
            return None if None in problems else {**OK, "results": problems}
        if command.get("op") == "register_broker":
            # A broker retrying a registration that committed after it gave up gets the
            # epoch applying it again would give, without a Raft write: a hundred brokers
            # starting on two cores retried until the log held 20 entries a broker.
            known = self.image.brokers.get(command["broker_id"])
            if known and known["incarnation"] == command["incarnation"]:
                return {**OK, "broker_epoch": known["epoch"]}
            return None
        if command.get("op") != "create_topic":
            return None
        problem, configs = check_new_topic(self.image, command["name"], command["partitions"],
                                           command["replication_factor"],
                                           command.get("configs") or {})
        if problem:
            return None  # refused when applied, with the reason
        return check_min_insync(self.config, command["replication_factor"], configs)

    def _cmd_create_topic(self, c, offset, records):
        problem, configs = check_new_topic(self.image, c["name"], c["partitions"],
                                           c["replication_factor"], c.get("configs") or {})
        if problem:
            return problem
        name, count, rf = c["name"], c["partitions"], c["replication_factor"]
        # Kafka's topic id: a UUID per incarnation of a name (recreating a topic gives a
        # new one), the same on every coordinator because it comes from the entry's offset.
        topic_id = str(uuid.uuid5(TOPIC_ID_NAMESPACE, f"{name}@{offset}"))
        topic = {"name": name, "partitions": count, "replication_factor": rf,
                 "configs": configs, "topic_id": topic_id}
        records.append({"type": "topic", **topic})
        self.image.topics[name] = topic  # visible to placement below; re-set by apply
        self._place(name, range(count), rf, records, c.get("placement", 1))
        return {**OK, "topic": topic}

    def _place(self, name: str, partitions, rf: int, records, placement: int) -> None:
        """Spread leaders and replicas: partition p's leader is broker (start + p), so
        each broker leads as many as any other. Its followers (placement 2, Kafka's
        scheme) are the brokers after it shifted by one more every round of n
        partitions: the partitions a broker leads have different next replicas, and
        when it dies, its leadership spreads over them instead of doubling one
        broker's. Placement 1 (logs from before it) has no shift."""
        brokers = self.image.unfenced_broker_ids()
        n = len(brokers)
        start = zlib.crc32(name.encode()) % n
        for p in partitions:
            first = (start + p) % n
            if placement == 1 or n == 1:
                replicas = [brokers[(first + j) % n] for j in range(rf)]
            else:
                shift = p // n
                replicas = [brokers[first]] + [brokers[(first + 1 + (shift + j) % (n - 1)) % n]
                                               for j in range(rf - 1)]
            records.append({"type": "partition", "topic": name, "partition": p,
                            "replicas": replicas, "leader": replicas[0], "leader_epoch": 0,
                            "isr": list(replicas), "partition_epoch": 0})

    def _cmd_create_partitions(self, c, offset, records):
        """Grow a topic to `count` partitions (Kafka's CreatePartitions); existing ones
        keep their data and placement, so keys may now map elsewhere, as in Kafka."""
        topic = self.image.topics.get(c["name"])
        if topic is None:
            return _error("UNKNOWN_TOPIC_OR_PARTITION", f"topic {c['name']!r} does not exist")
        count, have, rf = c["count"], topic["partitions"], topic["replication_factor"]
        if not have < count <= PARTITIONS_MAX:
            return _error("INVALID_PARTITIONS",
                          f"{c['name']} has {have} partition(s): the new count {count} must "
                          f"be greater, and at most {PARTITIONS_MAX}")
        live = len(self.image.unfenced_broker_ids())
        if rf > live:
            return _error("INVALID_REPLICATION_FACTOR",
                          f"new partitions need {rf} replicas; {live} broker(s) available")
        grown = {**topic, "partitions": count}
        records.append({"type": "topic", **grown})
        self.image.topics[c["name"]] = grown
        self._place(c["name"], range(have, count), rf, records, c.get("placement", 1))
        return {**OK, "topic": grown}

    def _cmd_delete_topic(self, c, offset, records):
        if c["name"] not in self.image.topics:
            return _error("UNKNOWN_TOPIC_OR_PARTITION", f"topic {c['name']!r} does not exist")
        records.append({"type": "topic_removed", "name": c["name"]})
        return OK

    # -- partitions -----------------------------------------------------------------------

    def _cmd_alter_partition(self, c, offset, records):
        """A partition leader's ISR change, checked against its epochs (KIP-497)."""
        problem = self._check_alter(c)
        if problem:
            return problem
        p = self.image.partition(c["topic"], c["partition"])
        new = self._put_partition(p, records, isr=list(c["isr"]))
        return {**OK, "partition": new}

    def _cmd_alter_partitions(self, c, offset, records):
        """One result per change, in order: an error, or NONE with the new partition."""
        return {**OK, "results": [self._cmd_alter_partition(change, offset, records)
                                  for change in c["changes"]]}

    def _check_alter(self, c) -> dict[str, Any] | None:
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
        joining = [b for b in isr if b not in p["isr"] and not self._can_lead(b, p)]
        if joining:
            return _error("INELIGIBLE_REPLICA",
                          f"broker(s) {joining} cannot join: fenced, or the replica is "
                          "offline there")
        return None

    def _cmd_elect_preferred_leaders(self, c, offset, records):
        """Give each partition in scope (all, without `topics`) back to its preferred
        replica (replicas[0]) where that one is in the ISR and can lead: Kafka's preferred
        leader election, in one change. Per partition: NONE (moved),
        ELECTION_NOT_NEEDED or PREFERRED_LEADER_NOT_AVAILABLE; for a whole-cluster
        election, as in Kafka, partitions that needed none are only counted."""
        scope = c.get("topics")
        problem = self._unknown_in_scope(scope)
        if problem:
            return problem
        results, not_needed = [], 0
        for p in self._sorted_partitions():
            if scope is not None and not (p["topic"] in scope and (
                    scope[p["topic"]] is None or p["partition"] in scope[p["topic"]])):
                continue
            preferred, was = p["replicas"][0], p["leader"]
            if was == preferred:
                error = "ELECTION_NOT_NEEDED"
            elif preferred in p["isr"] and self._can_lead(preferred, p):
                self._put_partition(p, records, leader=preferred, bump_leader=True)
                error = "NONE"
            else:
                error = "PREFERRED_LEADER_NOT_AVAILABLE"
            if error == "ELECTION_NOT_NEEDED" and scope is None:
                not_needed += 1
                continue
            results.append({"topic": p["topic"], "partition": p["partition"], "error": error,
                            "preferred": preferred, "previous_leader": was})
        moved = sum(r["error"] == "NONE" for r in results)
        return {**OK, "moved": moved, "not_needed": not_needed, "partitions": results}

    def _unknown_in_scope(self, scope: dict | None) -> dict[str, Any] | None:
        for name, partitions in sorted((scope or {}).items()):
            topic = self.image.topics.get(name)
            if topic is None:
                return _error("UNKNOWN_TOPIC_OR_PARTITION", f"topic {name!r} does not exist")
            missing = sorted(set(partitions or []) - set(range(topic["partitions"])))
            if missing:
                return _error("UNKNOWN_TOPIC_OR_PARTITION",
                              f"{name} has {topic['partitions']} partition(s), numbered 0 to "
                              f"{topic['partitions'] - 1}: no partition "
                              f"{', '.join(map(str, missing))}")
        return None

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
                       isr: list[int] | None = None, elr: list[int] | None = None,
                       bump_leader: bool = False) -> dict:
        new = dict(p)
        if leader is not None:
            new["leader"] = leader
        if isr is not None:
            new["isr"] = isr
        if elr is not None:
            new["elr"] = sorted(elr)
        elif isr is not None:
            new["elr"] = self._next_elr(p, isr)
        if bump_leader:
            new["leader_epoch"] = p["leader_epoch"] + 1
        new["partition_epoch"] = p["partition_epoch"] + 1
        records.append({"type": "partition", **new})
        self.image.partitions[f"{p['topic']}/{p['partition']}"] = new
        return new

    def _next_elr(self, p: dict, isr: list[int]) -> list[int]:
        """Who may stand in for the ISR after it changes to `isr`: while it is smaller
        than min.insync.replicas no acks=all write completes, so whoever leaves it then
        keeps every acknowledged record; once it is whole enough, writes go on without
        them and nobody but the ISR is eligible."""
        min_isr = effective(self.config, self.image.topics[p["topic"]]["configs"]
                            )["min.insync.replicas"] if p["topic"] in self.image.topics else 1
        if len(isr) >= min_isr:
            return []
        left = [b for b in p["isr"] if b not in isr]
        return sorted((set(p.get("elr", [])) | set(left)) - set(isr))

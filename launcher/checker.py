"""A Jepsen-style checker over a chaos run's history — pure: events in, verdict out.

The history is a list of events (dicts, as written to `logs/chaos-<seed>.jsonl`):

  send    phase invoke|ok|fail  producer, key, value [, partition, offset | error]
  assign  consumer, epoch, partitions           a consumer's assignment from now on
  poll    consumer, epoch, records [[partition, offset, value], ...]
  commit  phase ok|fail, consumer, offsets {partition: offset}
  fault   phase start|end, kind, target, partitions (those it may affect)
  final   partition, records [[offset, value], ...]  everything read after healing
  final_isr  partitions, not_whole [{topic, partition, leader, replicas, isr}, ...],
          brokers_not_back [id, ...]              the cluster once it had converged
  workload_error / final_incomplete   the run itself went wrong (never valid)

Every event has `t`, seconds since the run began. Values are unique per send, so a value
names one write. The anomalies follow Jepsen's Kafka workload: what was acknowledged must
be read after healing, once, at one offset, in the order each producer sent it; consumers
must not skip or rewind within an assignment; committed offsets only move forward; a
record that was read must not vanish. Once healed, the cluster itself must be whole
again: every broker back and every partition of every topic (idle and internal ones
too) led, with all of its replicas in sync.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

EVIDENCE_MAX = 5  # examples kept per anomaly; the count says how many there were


@dataclass
class Anomaly:
    name: str
    count: int
    explanation: str
    examples: list[Any]


@dataclass
class Verdict:
    valid: bool
    anomalies: list[Anomaly]
    figures: dict[str, Any] = field(default_factory=dict)

    def anomaly(self, name: str) -> Anomaly | None:
        return next((a for a in self.anomalies if a.name == name), None)


def check(history: list[dict[str, Any]]) -> Verdict:
    by_type: dict[str, list[dict]] = defaultdict(list)
    for event in sorted(history, key=lambda e: e["t"]):
        by_type[event["type"]].append(event)
    final = _final_log(by_type["final"])
    found: list[Anomaly] = []

    def report(name, explanation, examples):
        if examples:
            found.append(Anomaly(name, len(examples), explanation, examples[:EVIDENCE_MAX]))

    acked = [e for e in by_type["send"] if e["phase"] == "ok"]
    # librdkafka acknowledges some idempotent writes without an offset (a retried batch
    # a later one proved written): those are checked for loss, order and duplicates,
    # with no offset of theirs to compare.
    placed = [e for e in acked if e.get("offset") is not None]
    # An interrupted run never read the log back: absence from it proves nothing.
    read_back = bool(by_type["final"])
    report("unfinished", "the run ended before reading the log back (interrupted?): what "
           "was acknowledged or read cannot be checked against it",
           [] if read_back else [{"events": len(history)}])
    report("lost", "acknowledged, never read after healing",
           [_where(e) for e in acked if read_back and e["value"] not in final.offsets_of])
    report("duplicate", "one write stored at more than one offset",
           [{"value": v, "at": sorted(at)} for v, at in final.offsets_of.items() if len(at) > 1])
    report("inconsistent_offset", "one offset seen holding two different values (by "
           "an acknowledgement, a poll or the final read)",
           _inconsistent_offsets(placed, by_type["poll"], final))
    report("acked_offset_mismatch", "acknowledged at one offset, stored at another",
           [_where(e) | {"stored_at": sorted(final.offsets_of[e["value"]])} for e in placed
            if e["value"] in final.offsets_of
            and (e["partition"], e["offset"]) not in final.offsets_of[e["value"]]])
    report("producer_order", "a producer's acknowledged writes to one partition (or "
           "one key) stored out of the order it sent them", _producer_order(acked, final))
    skips, rewinds = _poll_continuity(by_type["assign"], by_type["poll"], final)
    report("poll_skip", "a consumer jumped over stored records within one assignment", skips)
    report("nonmonotonic_poll", "a consumer went back within one assignment", rewinds)
    report("commit_backwards", "a group's committed offset moved backwards",
           _commits_backwards(by_type["commit"]))
    report("vanished_read", "read by a consumer, then gone from the log after healing",
           _vanished_reads(by_type["poll"], final) if read_back else [])
    # A history that cannot vouch for itself is not valid either.
    report("workload_error", "a workload client crashed; its history is incomplete",
           [{k: e[k] for k in ("client", "error")} for e in by_type["workload_error"]])
    report("incomplete_final_read", "the read after healing did not reach the log end",
           [e["ends"] for e in by_type["final_incomplete"]])
    report("isr_not_whole", "partitions without a leader, or with replicas out of the ISR, "
           "after healing and waiting for the cluster to converge",
           [p for e in by_type["final_isr"] for p in e["not_whole"]])
    report("broker_not_back", "brokers not registered and unfenced after healing",
           [{"broker": b} for e in by_type["final_isr"] for b in e["brokers_not_back"]]
           + [{"error": e["error"]} for e in by_type["final_isr"] if e.get("error")])
    return Verdict(not found, found, figures(by_type, final))


@dataclass
class _FinalLog:
    value_at: dict[tuple[int, int], str]
    offsets_of: dict[str, set[tuple[int, int]]]
    end_of: dict[int, int]


def _final_log(finals: list[dict]) -> _FinalLog:
    log = _FinalLog({}, defaultdict(set), {})
    for event in finals:
        p = event["partition"]
        for offset, value in event["records"]:
            log.value_at[(p, offset)] = value
            log.offsets_of[value].add((p, offset))
        log.end_of[p] = max([o + 1 for o, _ in event["records"]] + [log.end_of.get(p, 0)])
    return log


def _where(send: dict) -> dict:
    return {k: send[k] for k in ("value", "producer", "partition", "offset", "t") if k in send}


def _inconsistent_offsets(acked: list[dict], polls: list[dict], final: _FinalLog
                          ) -> list[dict]:
    seen: dict[tuple[int, int], set[str]] = defaultdict(set)
    for (p, o), v in final.value_at.items():
        seen[(p, o)].add(v)
    for e in acked:
        seen[(e["partition"], e["offset"])].add(e["value"])
    for poll in polls:
        for p, o, v in poll["records"]:
            seen[(p, o)].add(v)
    return [{"partition": p, "offset": o, "values": sorted(vs)}
            for (p, o), vs in sorted(seen.items()) if len(vs) > 1]


def _producer_order(acked: list[dict], final: _FinalLog) -> list[dict]:
    """Each producer sends one record at a time per partition in the order of `seq`;
    idempotence must keep that order in the log, whatever retries happened."""
    out = []
    streams: dict[tuple, list[dict]] = defaultdict(list)
    for e in acked:
        streams[("partition", e["producer"], e["partition"])].append(e)
        if e.get("key") is not None:
            streams[("key", e["producer"], e["key"])].append(e)
    for (kind, producer, which), sends in streams.items():
        sends.sort(key=lambda e: e["seq"])
        stored = [(e, min(final.offsets_of[e["value"]]))
                  for e in sends if final.offsets_of.get(e["value"])]
        for (a, at_a), (b, at_b) in zip(stored, stored[1:], strict=False):
            if at_a[0] == at_b[0] and at_b[1] <= at_a[1]:  # order is per partition
                out.append({"producer": producer, kind: which, "sent": [a["value"], b["value"]],
                            "stored_at": [at_a, at_b]})
    return out


def _poll_continuity(assigns: list[dict], polls: list[dict], final: _FinalLog
                     ) -> tuple[list[dict], list[dict]]:
    """Within one assignment epoch a consumer reads each partition contiguously: the
    next offset it sees is the one after the last, unless nothing is stored between."""
    skips, rewinds = [], []
    last: dict[tuple[str, int, int], int] = {}
    for poll in polls:
        for p, o, _v in poll["records"]:
            key = (poll["consumer"], poll["epoch"], p)
            before = last.get(key)
            last[key] = o
            if before is None:
                continue
            if o <= before:
                rewinds.append({"consumer": poll["consumer"], "partition": p,
                                "from": before, "to": o, "t": poll["t"]})
            elif any((p, gap) in final.value_at for gap in range(before + 1, o)):
                skips.append({"consumer": poll["consumer"], "partition": p,
                              "from": before, "to": o, "t": poll["t"]})
    return skips, rewinds


def _commits_backwards(commits: list[dict]) -> list[dict]:
    out = []
    highest: dict[int, tuple[int, str]] = {}
    for c in commits:
        if c["phase"] != "ok":
            continue
        for p, offset in c["offsets"].items():
            p = int(p)
            if p in highest and offset < highest[p][0]:
                out.append({"partition": p, "from": highest[p][0], "to": offset,
                            "consumer": c["consumer"], "t": c["t"]})
            if p not in highest or offset > highest[p][0]:
                highest[p] = (offset, c["consumer"])
    return out


def _vanished_reads(polls: list[dict], final: _FinalLog) -> list[dict]:
    out, reported = [], set()
    for poll in polls:
        for p, o, v in poll["records"]:
            if v not in final.offsets_of and v not in reported:
                reported.add(v)
                out.append({"value": v, "partition": p, "offset": o,
                            "consumer": poll["consumer"], "t": poll["t"]})
    return out


def figures(by_type: dict[str, list[dict]], final: _FinalLog) -> dict[str, Any]:
    sends = by_type["send"]
    acked = [e for e in sends if e["phase"] == "ok"]
    invoked = sum(1 for e in sends if e["phase"] == "invoke")
    failed = sum(1 for e in sends if e["phase"] == "fail")
    end_t = max([e["t"] for events in by_type.values() for e in events] + [0.0])
    return {
        "sent": invoked,
        "acknowledged": len(acked),
        "failed": failed,
        "indeterminate": invoked - len(acked) - failed,
        "read_after_healing": len(final.value_at),
        "polled": sum(len(p["records"]) for p in by_type["poll"]),
        "commits": sum(1 for c in by_type["commit"] if c["phase"] == "ok"),
        "acks_per_second": _per_second([e["t"] for e in acked], end_t),
        "faults": _fault_recoveries(by_type["fault"], acked, end_t),
        "final_isr": [{"partitions": e["partitions"], "not_whole": len(e["not_whole"])}
                      for e in by_type["final_isr"]],
    }


def _per_second(times: list[float], end_t: float) -> list[int]:
    buckets = [0] * (int(end_t) + 1)
    for t in times:
        buckets[int(t)] += 1
    return buckets


def _fault_recoveries(faults: list[dict], acked: list[dict], end_t: float) -> list[dict]:
    """Each fault's recovery: from its start to the first acknowledged write, sent after
    the fault began, on a partition it could affect (None: none came before the end)."""
    out = []
    starts = [f for f in faults if f["phase"] == "start"]
    for f in starts:
        affected = set(f.get("partitions") or [])
        ack_times = [e["t"] for e in acked if e["invoked_t"] >= f["t"]
                     and (not affected or e["partition"] in affected)]
        end = next((g["t"] for g in faults if g["phase"] == "end" and g["id"] == f["id"]),
                   None)
        out.append({"id": f["id"], "kind": f["kind"], "target": f["target"], "at": f["t"],
                    "healed_at": end,
                    "recovery_s": (min(ack_times) - f["t"]) if ack_times else None})
    return out

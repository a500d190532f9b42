"""The chaos checker on hand-made histories: a clean one is valid; each anomaly, planted
alone, is found and named with its evidence."""

from __future__ import annotations

import pytest

from launcher.chaos_report import render
from launcher.checker import check

pytestmark = pytest.mark.unit


class Story:
    """Builds a history: two producers writing to partitions 0 and 1."""

    def __init__(self):
        self.events: list[dict] = []
        self.t = 0.0
        self.logs: dict[int, list[str]] = {0: [], 1: []}

    def at(self, type_: str, **fields) -> dict:
        self.t += 0.01
        event = {"t": round(self.t, 3), "type": type_, **fields}
        self.events.append(event)
        return event

    def send(self, producer: str, seq: int, partition: int, key: str | None = None,
             store: bool = True, ack: bool = True) -> str:
        value = f"{producer}-{seq}"
        key = key or f"{producer}-k{partition}"  # keyed partitioning
        invoked = self.at("send", phase="invoke", producer=producer, seq=seq, key=key,
                          value=value)
        offset = len(self.logs[partition])
        if store:
            self.logs[partition].append(value)
        if ack:
            self.at("send", phase="ok", producer=producer, seq=seq, key=key, value=value,
                    partition=partition, offset=offset, invoked_t=invoked["t"])
        return value

    def poll(self, consumer: str, epoch: int, partition: int, offsets: list[int]) -> None:
        self.at("poll", consumer=consumer, epoch=epoch,
                records=[[partition, o, self.logs[partition][o]] for o in offsets])

    def commit(self, consumer: str, offsets: dict[int, int], ok: bool = True) -> None:
        self.at("commit", phase="ok" if ok else "fail", consumer=consumer, offsets=offsets)

    def final(self) -> list[dict]:
        for p, values in self.logs.items():
            self.at("final", partition=p, records=[[o, v] for o, v in enumerate(values)])
        return self.events


def clean_story() -> Story:
    s = Story()
    s.at("run", phase="start", seed=1, schedule=[], settings={})
    s.at("assign", consumer="c0", epoch=1, partitions=[0, 1])
    for seq in range(4):
        s.send("p0", seq, partition=seq % 2)
        s.send("p1", seq, partition=seq % 2)
    s.poll("c0", 1, 0, [0, 1, 2])
    s.commit("c0", {0: 3})
    s.at("fault", phase="start", id=1, kind="kill", target="broker-2", partitions=[0])
    s.poll("c0", 1, 0, [3])
    s.commit("c0", {0: 4})
    s.send("p0", 4, partition=0)
    s.at("fault", phase="end", id=1, kind="kill", target="broker-2")
    return s


def names(verdict) -> list[str]:
    return [a.name for a in verdict.anomalies]


def test_a_clean_history_is_valid_with_its_figures():
    verdict = check(clean_story().final())
    assert verdict.valid, verdict.anomalies
    f = verdict.figures
    assert (f["sent"], f["acknowledged"], f["failed"], f["indeterminate"]) == (9, 9, 0, 0)
    assert f["read_after_healing"] == 9 and f["polled"] == 4 and f["commits"] == 2
    assert sum(f["acks_per_second"]) == 9
    [fault] = f["faults"]
    assert fault["target"] == "broker-2" and fault["recovery_s"] == pytest.approx(0.04)


def test_an_acknowledged_write_missing_after_healing_is_lost():
    s = clean_story()
    lost = s.send("p1", 9, partition=1, store=False)
    verdict = check(s.final())
    assert names(verdict) == ["lost"]
    assert verdict.anomaly("lost").examples[0]["value"] == lost


def test_an_unacknowledged_write_missing_is_not_lost():
    s = clean_story()
    s.send("p1", 9, partition=1, store=False, ack=False)
    verdict = check(s.final())
    assert verdict.valid and verdict.figures["indeterminate"] == 1


def test_a_write_stored_twice_is_a_duplicate():
    s = clean_story()
    value = s.send("p0", 7, partition=1)
    s.logs[1].append(value)  # a retry written again without idempotence
    verdict = check(s.final())
    assert "duplicate" in names(verdict)
    assert verdict.anomaly("duplicate").examples[0]["value"] == value


def test_one_offset_with_two_values_is_inconsistent():
    s = clean_story()
    s.poll("c0", 1, 1, [0])
    s.logs[1][0] = "p9-0"  # the log now says something else at the offset that was read
    verdict = check(s.final())
    assert "inconsistent_offset" in names(verdict)
    example = verdict.anomaly("inconsistent_offset").examples[0]
    assert (example["partition"], example["offset"]) == (1, 0)
    assert "vanished_read" in names(verdict)  # what was read is gone, too


def test_writes_stored_out_of_the_order_a_producer_sent_them():
    s = clean_story()
    s.send("p0", 10, partition=1, key="hot")
    s.send("p0", 11, partition=1, key="hot")
    s.logs[1][-2], s.logs[1][-1] = s.logs[1][-1], s.logs[1][-2]  # reordered in the log
    verdict = check(s.final())
    assert "producer_order" in names(verdict)
    kinds = {next(k for k in ("partition", "key") if k in e)
             for e in verdict.anomaly("producer_order").examples}
    assert kinds == {"partition", "key"}


def test_a_consumer_skipping_stored_records_within_an_assignment():
    s = clean_story()
    s.send("p0", 5, partition=0)
    s.send("p0", 6, partition=0)
    s.poll("c0", 1, 0, [6])  # offset 5 was stored but never handed out
    verdict = check(s.final())
    assert names(verdict) == ["poll_skip"]
    assert verdict.anomaly("poll_skip").examples[0] | {"t": 0} == \
        {"consumer": "c0", "partition": 0, "from": 3, "to": 6, "t": 0}


def test_a_new_assignment_may_start_anywhere_but_not_go_back_within_one():
    s = clean_story()
    s.at("assign", consumer="c0", epoch=2, partitions=[0])
    s.poll("c0", 2, 0, [1, 2])  # a new epoch: starting over from a commit is fine
    assert check(list(s.final())).valid
    s = clean_story()
    s.poll("c0", 1, 0, [2])  # same epoch, back to 2 after 3
    assert names(check(s.final())) == ["nonmonotonic_poll"]


def test_committed_offsets_going_backwards():
    s = clean_story()
    s.commit("c1", {0: 2})
    s.commit("c1", {0: 1}, ok=False)  # a failed commit is not a commit
    verdict = check(s.final())
    assert names(verdict) == ["commit_backwards"]
    assert verdict.anomaly("commit_backwards").examples[0]["from"] == 4
    assert verdict.anomaly("commit_backwards").count == 1


def test_an_unacknowledged_record_read_then_vanished():
    s = clean_story()
    value = s.send("p1", 9, partition=1, ack=False)
    s.poll("c0", 1, 1, [0, 1, 2, 3, 4])
    s.logs[1].pop()  # truncated away by an unclean leader
    verdict = check(s.final())
    assert names(verdict) == ["vanished_read"]
    assert verdict.anomaly("vanished_read").examples[0]["value"] == value


def test_a_write_acknowledged_at_one_offset_and_stored_at_another():
    s = clean_story()
    moved = s.send("p0", 12, partition=1)
    s.events[-1]["offset"] = 9  # the acknowledgement named an offset the log never had
    verdict = check(s.final())
    assert names(verdict) == ["acked_offset_mismatch"]
    assert verdict.anomaly("acked_offset_mismatch").examples[0]["stored_at"] == [(1, 4)]
    assert verdict.anomaly("acked_offset_mismatch").examples[0]["value"] == moved


def test_an_acknowledgement_without_an_offset_is_checked_for_loss_only():
    """librdkafka acknowledges some idempotent writes without their offset (a retried
    batch a later one proved written): such a write must still be read back, but there
    is no offset to compare."""
    s = clean_story()
    s.send("p0", 12, partition=1)
    s.events[-1]["offset"] = None
    assert check(s.final()).valid
    s.send("p0", 13, partition=1, store=False)
    s.events[-1]["offset"] = None
    assert names(check(s.final())) == ["lost"]


def test_a_crashed_client_or_short_final_read_never_passes():
    s = clean_story()
    s.at("workload_error", client="producer-1", error="RuntimeError('boom')")
    s.at("final_incomplete", ends={0: 5, 1: 4})
    assert names(check(s.final())) == ["workload_error", "incomplete_final_read"]


def test_evidence_is_capped_but_counted():
    s = clean_story()
    for seq in range(20, 40):
        s.send("p1", seq, partition=1, store=False)
    lost = check(s.final()).anomaly("lost")
    assert lost.count == 20 and len(lost.examples) == 5


def test_a_cluster_not_whole_after_healing_is_not_valid_and_names_the_partitions():
    """Nothing lost, but a follower of an idle partition never rejoined and a broker
    never came back: the run is not valid, and the verdict says where."""
    s = clean_story()
    s.at("final_isr", partitions=18, topics=["chaos", "chaos-idle"], brokers_not_back=[],
         not_whole=[])
    assert check(s.final()).valid
    assert check(s.events).figures["final_isr"] == [{"partitions": 18, "not_whole": 0}]
    s = clean_story()
    stuck = {"topic": "chaos-idle", "partition": 4, "leader": 2, "replicas": [2, 3, 1],
             "isr": [2, 1]}
    s.at("final_isr", partitions=18, topics=["chaos", "chaos-idle"], brokers_not_back=[3],
         not_whole=[stuck])
    verdict = check(s.final())
    assert names(verdict) == ["isr_not_whole", "broker_not_back"]
    assert verdict.anomaly("isr_not_whole").examples == [stuck]
    assert verdict.anomaly("broker_not_back").examples == [{"broker": 3}]
    assert verdict.figures["final_isr"] == [{"partitions": 18, "not_whole": 1}]
    report = render(verdict, 1, {}, None, s.events)
    assert "in sync after healing: 17 of 18 partitions" in report
    assert "  not whole: chaos-idle-4\n" in report and "verdict: INVALID" in report


def test_an_interrupted_run_is_unfinished_not_thousands_of_losses():
    s = clean_story()  # no final read: the run was stopped before it
    verdict = check(s.events)
    assert names(verdict) == ["unfinished"]
    assert not verdict.valid

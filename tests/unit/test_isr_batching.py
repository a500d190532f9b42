"""A leader's ISR changes go to the controller together, in one alter_partitions entry
(Kafka's AlterPartition carries many partitions): when the followers of a thousand
partitions fall behind at once, that is one Raft write per leader, not a thousand."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.coordinator.commands import check_command
from mini_kafka.metadata import MetadataImage
from tests.unit.test_mass_fencing import cluster


def change(p, isr):
    return {"topic": p["topic"], "partition": p["partition"], "leader": p["leader"],
            "leader_epoch": p["leader_epoch"], "partition_epoch": p["partition_epoch"],
            "isr": isr}


def test_each_change_of_a_batch_is_checked_and_applied_on_its_own():
    h = cluster()
    a, b = h.p("t", 0), h.p("t", 1)
    shrink = [a["leader"]]
    stale = {**change(b, [b["leader"]]), "leader_epoch": b["leader_epoch"] + 1}
    batch = {"op": "alter_partitions", "changes": [change(a, shrink), stale]}
    assert h.state.check_proposal(batch) is None, "one change is valid: it is proposed"
    before = h.state.offset
    done, refused = h.do(batch)["results"]
    assert done["error"] == "NONE" and done["partition"]["isr"] == shrink
    assert h.p("t", 0)["isr"] == shrink and h.p("t", 0)["partition_epoch"] == \
        a["partition_epoch"] + 1
    assert refused["error"] == "FENCED_LEADER_EPOCH" and h.p("t", 1) == b
    assert [o for o, _ in h.state.changes_after(before)] == [h.offset], "one entry"


def test_a_batch_the_controller_would_refuse_whole_costs_no_write():
    h = cluster()
    a = h.p("t", 0)
    stale = {**change(a, [a["leader"]]), "partition_epoch": a["partition_epoch"] - 1}
    answer = h.state.check_proposal({"op": "alter_partitions", "changes": [stale]})
    assert [r["error"] for r in answer["results"]] == ["INVALID_UPDATE_VERSION"]


def test_a_malformed_change_makes_the_batch_malformed():
    h = cluster()
    good = change(h.p("t", 0), [1])
    assert check_command({"op": "alter_partitions", "changes": [good]}) is None
    assert "isr must be a list of broker ids" in check_command(
        {"op": "alter_partitions", "changes": [good, {**good, "isr": ["1"]}]})
    assert "each change must be an object" in check_command(
        {"op": "alter_partitions", "changes": [good, 7]})
    assert "field 'leader_epoch'" in check_command(
        {"op": "alter_partitions", "changes": [{**good, "leader_epoch": None}]})


def test_a_leader_asks_for_every_due_isr_change_in_one_write(tmp_path):
    from tests.unit.test_replica_storage import manager

    async def scenario():
        m = manager(tmp_path)
        m.role.image = MetadataImage.from_snapshot({
            "offset": 10,
            "brokers": [{"id": b, "endpoint": f"tcp://b{b}", "epoch": 5, "incarnation": "x",
                         "fenced": False} for b in (1, 2)],
            "topics": [{"name": "t", "partitions": 3, "replication_factor": 2, "configs": {},
                        "topic_id": "id-7"}],
            "partitions": [{"topic": "t", "partition": p, "replicas": [1, 2], "leader": 1,
                            "leader_epoch": 0, "isr": [1, 2], "partition_epoch": 0}
                           for p in range(3)]})
        m.on_metadata(m.role.image)
        led = [p for p in m.partitions.values() if p.leader_state is not None]
        assert len(led) == 3
        writes = []

        async def write(command):
            writes.append(command)
            return {"error": "NONE", "results": [
                {"error": "NOT_CONTROLLER", "message": "try again"}] * len(command["changes"])}
        m.role.controller = SimpleNamespace(write=write)
        m.clock.advance(m.config.timeouts.replica_lag_time_max_ms + 1)  # followers lag
        m._maintain_isrs()
        await asyncio.sleep(0)
        [batch] = writes
        assert batch["op"] == "alter_partitions" and check_command(batch) is None
        assert sorted((c["topic"], c["partition"]) for c in batch["changes"]) == \
            sorted((p.topic, p.partition) for p in led)
        assert all(p.leader_state.pending_isr is None for p in led), \
            "a refused change is asked again later"

    asyncio.run(scenario())

"""A leader's ISR changes go to the controller together, in one alter_partitions entry
(Kafka's AlterPartition carries many partitions): when the followers of a thousand
partitions fall behind at once, that is one Raft write per leader, not a thousand."""

from __future__ import annotations

import asyncio

from mini_kafka.coordinator.commands import check_command
from mini_kafka.metadata import MetadataImage
from tests.unit.leader_helpers import leading_image, refusing_controller
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
        m.role.image = leading_image(3, [1, 2], [1, 2])
        m.on_metadata(m.role.image)
        led = [p for p in m.partitions.values() if p.leader_state is not None]
        assert len(led) == 3
        writes = []
        m.role.controller = refusing_controller(writes)
        m.clock.advance(m.config.timeouts.replica_lag_time_max_ms + 1)  # followers lag
        m.upkeep.check()
        await asyncio.sleep(0)
        [batch] = writes
        assert batch["op"] == "alter_partitions" and check_command(batch) is None
        assert sorted((c["topic"], c["partition"]) for c in batch["changes"]) == \
            sorted((p.topic, p.partition) for p in led)
        assert all(p.leader_state.pending_isr is None for p in led), \
            "a refused change is asked again later"

    asyncio.run(scenario())


def test_who_may_join_an_isr_follows_the_metadata_as_it_changes(tmp_path):
    """The fenced brokers and offline replicas an ISR check leaves out are worked out
    once per metadata change: a broker unfenced, or a replica back online, in newer
    metadata is asked into the ISR at the next check, not kept out by an old answer."""
    from tests.unit.test_replica_storage import manager

    def broker(b, fenced=False, offline=()):
        return {"type": "broker", "id": b, "endpoint": f"tcp://b{b}", "epoch": 5,
                "incarnation": "x", "fenced": fenced, "offline": list(offline)}

    async def scenario():
        m = manager(tmp_path)
        image = m.role.image = MetadataImage.from_snapshot({
            "offset": 10,
            "brokers": [{k: v for k, v in broker(b, fenced=b == 2).items() if k != "type"}
                        for b in (1, 2)],
            "topics": [{"name": "t", "partitions": 2, "replication_factor": 2, "configs": {},
                        "topic_id": "id-7"}],
            "partitions": [{"topic": "t", "partition": p, "replicas": [1, 2], "leader": 1,
                            "leader_epoch": 0, "isr": [1], "partition_epoch": 0}
                           for p in range(2)]})
        m.on_metadata(image)
        led = sorted((p for p in m.partitions.values() if p.leader_state is not None),
                     key=lambda p: p.partition)
        writes = []
        m.role.controller = refusing_controller(writes)

        async def asked() -> list[tuple[int, list[int]]]:
            for p in led:  # broker 2 caught up on both, as a fetch would say
                p.leader_state.on_follower_fetch(2, p.log.log_end_offset,
                                                 m.clock.monotonic_ms())
            writes.clear()
            m.upkeep.check()
            for _ in range(3):  # the write goes out in its own task, and is refused
                await asyncio.sleep(0)
            return [(c["partition"], c["isr"]) for w in writes for c in w["changes"]]

        assert await asked() == [], "broker 2 is fenced"
        image.apply(11, [broker(2, offline=["t/0"])])
        assert await asked() == [(1, [1, 2])], "unfenced, but its t/0 is offline"
        image.apply(12, [broker(2)])
        assert await asked() == [(0, [1, 2]), (1, [1, 2])]
        image.apply(13, [broker(2, fenced=True)])
        assert await asked() == []

    asyncio.run(scenario())

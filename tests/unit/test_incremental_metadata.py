"""A metadata change that carries only partitions is taken on for those partitions
alone; anything else (a broker, a topic, a snapshot) makes the broker look at all."""

from types import SimpleNamespace

from mini_kafka.broker.replica_manager import ReplicaManager
from mini_kafka.broker.server import _partitions_changed
from mini_kafka.clock import ManualClock
from mini_kafka.metadata import MetadataImage


def part_record(topic, p, replicas=(1, 2, 3), leader=1):
    return {"type": "partition", "topic": topic, "partition": p, "replicas": list(replicas),
            "leader": leader, "leader_epoch": 0, "isr": list(replicas), "partition_epoch": 0}


def test_only_partition_records_keep_the_change_incremental():
    assert _partitions_changed(set(), [part_record("t", 0), part_record("t", 3)]) == \
        {("t", 0), ("t", 3)}
    assert _partitions_changed({("t", 0)}, [{"type": "broker", "id": 2}]) is None
    assert _partitions_changed(None, [part_record("t", 1)]) is None
    assert _partitions_changed(set(), []) == set()  # a no-op entry changes nothing


def test_an_incremental_change_follows_only_its_partitions_and_drops_moved_ones():
    image = MetadataImage()
    image.apply(1, [part_record("t", p) for p in range(1000)])
    followed, dropped = [], []
    held = {("t", p): object() for p in range(1000)}
    manager = SimpleNamespace(
        broker_id=1, clock=ManualClock(), partitions=held,
        storage=SimpleNamespace(swept=True, offline={}), role=SimpleNamespace(broker_epoch=1),
        _take_on=lambda key, p, image, now: followed.append((p["topic"], p["partition"])),
        _drop=dropped.append)
    image.apply(2, [part_record("t", 7, leader=2), part_record("t", 8, replicas=(2, 3, 4))])
    list(ReplicaManager.reconcile(manager, image, {("t", 7), ("t", 8)}))
    assert followed == [("t", 7)] and dropped == [("t", 8)]

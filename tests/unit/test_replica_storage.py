"""The broker's replicas on its disk: a storage error takes one replica offline (its
requests get KAFKA_STORAGE_ERROR, the heartbeat names it) until writes work again;
damaged replicas are reported; directories nobody owns are removed, live ones never."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka import records
from mini_kafka.broker.log.disk import Disk
from mini_kafka.broker.partition import LEADER
from mini_kafka.broker.replica_manager import ReplicaManager
from mini_kafka.clock import ManualClock
from mini_kafka.config import config_from_dict
from mini_kafka.metadata import MetadataImage
from mini_kafka.supervisor import Supervisor

ME = 1


def image(offset=10, topics=(("t", 2, "id-7"),), damaged=(), epoch=5, offline=(),
          leader_epoch=0) -> MetadataImage:
    """`offline`: replicas the controller has recorded offline here; as it does, it took
    their leadership away (leader -1, the next leader epoch)."""
    return MetadataImage.from_snapshot({
        "offset": offset,
        "brokers": [{"id": ME, "endpoint": "tcp://me", "epoch": epoch, "incarnation": "x",
                     "fenced": False, "damaged": list(damaged), "offline": list(offline)}],
        "topics": [{"name": name, "partitions": n, "replication_factor": 1, "configs": {},
                    "topic_id": topic_id} for name, n, topic_id in topics],
        "partitions": [{"topic": name, "partition": p, "replicas": [ME],
                        "leader": -1 if f"{name}/{p}" in offline else ME,
                        "leader_epoch": leader_epoch + (f"{name}/{p}" in offline),
                        "isr": [ME], "partition_epoch": 0}
                       for name, n, _ in topics for p in range(n)]})


def manager(tmp_path, broker_epoch=5) -> ReplicaManager:
    node = SimpleNamespace(clock=ManualClock(), data_dir=tmp_path, client=None,
                           supervisor=Supervisor("broker-1"), disk=Disk())
    role = SimpleNamespace(node=node, config=config_from_dict({}), broker_id=ME,
                           image=image(), broker_epoch=broker_epoch)
    return ReplicaManager(role)


def batch(value=b"v"):
    return records.encode_batch([(None, value, ManualClock().wall_ms(), None)])


async def produce(m, partition=0, value=b"v"):
    [result] = await m.produce(1, 1000, [("t", partition, batch(value))])
    return result


async def fetch(m, partition=0):
    results, _ = await m.fetch({"partitions": [{"topic": "t", "partition": partition,
                                                "fetch_offset": 0}]})
    return results[0]


def test_a_full_disk_takes_a_replica_offline_and_it_returns_when_there_is_room(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        m.on_metadata(m.role.image)
        assert (await produce(m))["error"] == "NONE"
        m.node.disk.full = True
        failed = await produce(m)
        assert failed["error"] == "KAFKA_STORAGE_ERROR" and "No space left" in failed["message"]
        assert (await produce(m))["error"] == "KAFKA_STORAGE_ERROR"
        assert (await fetch(m))["error"] == "KAFKA_STORAGE_ERROR"
        assert (await fetch(m, 1))["error"] == "NONE", "the other replica still serves"
        assert m.storage.report(m.role.image, 5)["offline_replicas"] == ["t/0"]
        m._retry_offline()
        assert ("t", 0) in m.storage.offline, "still full"
        m.on_metadata(m.role.image)  # newer metadata does not reopen it either
        assert ("t", 0) not in m.partitions
        m.node.disk.full = False
        m._retry_offline()
        assert ("t", 0) in m.storage.offline, \
            "the metadata still names it leader in the epoch it failed in: it waits"
        m.role.image = image(offset=11, offline=["t/0"])  # the controller took it in
        m.on_metadata(m.role.image)
        m._retry_offline()
        assert m.storage.report(m.role.image, 5)["offline_replicas"] == []
        assert m.partitions[("t", 0)].role != LEADER, "nobody leads until the controller"
        m.role.image = image(offset=12, leader_epoch=2)  # ... elects it again
        m.on_metadata(m.role.image)
        assert m.partitions[("t", 0)].role == LEADER
        again = await produce(m)
        assert again["error"] == "NONE" and again["base_offset"] == 1, "the data stayed"

    asyncio.run(scenario())


def test_a_replica_that_cannot_be_opened_is_offline_not_fatal(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        m.node.disk.full = True  # a restart on a full disk
        m.on_metadata(m.role.image)
        assert sorted(m.storage.offline) == [("t", 0), ("t", 1)]
        assert (await produce(m))["error"] == "KAFKA_STORAGE_ERROR"
        m.node.disk.full = False
        m.role.image = image(offset=11, offline=["t/0", "t/1"])  # recorded at unfence
        m._retry_offline()
        assert sorted(m.partitions) == [("t", 0), ("t", 1)] and not m.storage.offline

    asyncio.run(scenario())


def test_damage_found_at_open_is_reported_until_the_controller_records_it(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        m.on_metadata(m.role.image)
        for i in range(3):
            await produce(m, value=b"%d" % i)
        m.close()
        segment = tmp_path / "t-0" / f"{0:020d}.log"
        data = bytearray(segment.read_bytes())
        data[-3] ^= 0xFF
        segment.write_bytes(bytes(data))
        m = manager(tmp_path)
        m.on_metadata(m.role.image)
        assert m.partitions[("t", 0)].log.log_end_offset == 2
        assert m.storage.report(m.role.image, 5)["damaged_replicas"] == ["t/0"]
        recorded = image(damaged=["t/0"])
        assert m.storage.report(recorded, 4)["damaged_replicas"] == ["t/0"], \
            "recorded for an earlier registration: report it again"
        assert m.storage.report(recorded, 5)["damaged_replicas"] == []

    asyncio.run(scenario())


def test_directories_of_partitions_not_hosted_go_once_metadata_is_current(tmp_path):
    async def scenario():
        for name in ("gone-0", "t-5"):  # a deleted topic; a partition never hosted here
            (tmp_path / name).mkdir()
            (tmp_path / name / "leader-epoch-checkpoint").write_text("0\n0\n")
        (tmp_path / "idle-3").mkdir()  # a deleted topic's replica never written: empty
        (tmp_path / "notes-1").mkdir()  # not a partition directory: left alone
        (tmp_path / "notes-1" / "todo.txt").write_text("x")
        (tmp_path / "t-1").mkdir()  # hosted, empty (left by a crash, say)
        m = manager(tmp_path, broker_epoch=11)
        m.on_metadata(m.role.image)  # offset 10: older than our registration (11)
        assert (await produce(m, partition=0))["error"] == "NONE"
        assert (tmp_path / "gone-0").exists() and (tmp_path / "idle-3").exists()
        m.on_metadata(image(offset=11))
        assert not (tmp_path / "gone-0").exists() and not (tmp_path / "t-5").exists()
        assert not (tmp_path / "idle-3").exists()
        assert (tmp_path / "t-0").exists() and (tmp_path / "t-1").exists(), "hosted"
        assert (tmp_path / "notes-1" / "todo.txt").exists()

    asyncio.run(scenario())


def test_data_of_an_earlier_topic_of_the_same_name_is_not_served(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        m.on_metadata(m.role.image)
        await produce(m)
        m.close()
        assert "topic_id: id-7" in (tmp_path / "t-0" / "partition.metadata").read_text()
        m = manager(tmp_path)  # the topic was deleted and created again while away
        m.on_metadata(image(topics=(("t", 2, "id-42"),)))
        assert m.partitions[("t", 0)].log.log_end_offset == 0
        assert not (tmp_path / "t-0" / "partition.metadata").exists()
        assert (await produce(m))["error"] == "NONE"
        assert "topic_id: id-42" in (tmp_path / "t-0" / "partition.metadata").read_text()

    asyncio.run(scenario())

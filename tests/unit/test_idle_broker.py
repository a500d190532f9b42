"""An idle broker touches no file: its high-watermark checkpoint is written when a high
watermark moved, not every interval."""

from __future__ import annotations

import asyncio

from mini_kafka.broker.log.disk import Disk
from tests.unit.test_replica_storage import manager, produce


class CountingDisk(Disk):
    def __init__(self):
        super().__init__()
        self.files_written = 0

    def write_file(self, path, data, fsync=False):
        self.files_written += 1
        super().write_file(path, data, fsync)


def test_the_hw_checkpoint_is_written_only_when_a_high_watermark_moves(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        disk = m.node.disk = CountingDisk()
        m.on_metadata(m.role.image)
        m._checkpoint_hw()
        assert disk.files_written == 1
        for _ in range(10):  # idle intervals
            m._checkpoint_hw()
        assert disk.files_written == 1
        await produce(m)  # one replica: the high watermark moves at once
        m._checkpoint_hw()
        m._checkpoint_hw()
        assert disk.files_written == 2
        assert m._read_hw_checkpoint() == {"t/0": 1, "t/1": 0}
    asyncio.run(scenario())


def test_periodic_jobs_share_one_timer_and_keep_their_intervals():
    from mini_kafka.broker.periodic import PeriodicJobs
    from mini_kafka.config import ClusterConfig
    runs = {"isr": 0, "hw": 0, "retention": 0, "retry": 0}
    t = ClusterConfig().timeouts

    def job(name):
        return lambda: runs.__setitem__(name, runs[name] + 1)
    jobs = PeriodicJobs([(min(500, t.replica_lag_time_max_ms // 2), job("isr")),
                         (1000, job("hw")), (t.retention_check_interval_ms, job("retention")),
                         (t.storage_retry_interval_ms, job("retry"))], now_ms=0)
    wakes, now = 0, 0
    while True:
        now = jobs.next_due_ms() + 3  # a loop wakes a little late
        if now > 61_000:
            break
        wakes += 1
        for work in jobs.take_due(now):
            work()
    # A timer per job woke 120 + 60 + 60 + 1 times a minute; one timer wakes per ISR
    # check (HW checkpoints and retries ride along) and for the rare retention run.
    assert 110 <= runs["isr"] <= 122
    assert runs["isr"] <= wakes <= runs["isr"] + runs["retention"]
    assert 55 <= runs["hw"] <= 61 and 55 <= runs["retry"] <= 61 and runs["retention"] == 1


def test_a_broker_without_transactions_does_not_wake_to_expire_them():
    from types import SimpleNamespace

    from mini_kafka.broker import txn_coordinator
    from mini_kafka.clock import ManualClock
    from mini_kafka.config import ClusterConfig

    async def scenario():
        node = SimpleNamespace(name="broker-1", clock=ManualClock())
        manager = txn_coordinator.TxnManager(SimpleNamespace(node=node,
                                                             config=ClusterConfig()))
        sleeps = []
        real_sleep = asyncio.sleep

        async def counting_sleep(delay):
            sleeps.append(delay)
            await real_sleep(0)
        txn_coordinator.asyncio.sleep = counting_sleep
        try:
            loop_task = asyncio.ensure_future(manager._expire_loop())
            for _ in range(50):
                await real_sleep(0)
            assert sleeps == []  # waiting for a transactional id, not polling
            manager._replay(0, None, SimpleNamespace(
                key=b'{"transactional_id": "t"}', value=None))
            assert sleeps == []  # a tombstone adds none
            manager.txns["t"] = object()
            manager._may_expire.set()
            for _ in range(5):
                await real_sleep(0)
            assert sleeps, "with a transaction it checks every interval"
            loop_task.cancel()
        finally:
            txn_coordinator.asyncio.sleep = real_sleep
    asyncio.run(scenario())


def test_a_heartbeat_that_reports_nothing_costs_the_controller_no_walk_over_partitions():
    """200 heartbeats a second at 100 brokers: each walked every partition (80-120 us at
    1000 partitions) to intersect two lists that were empty."""
    from types import SimpleNamespace

    from mini_kafka.coordinator.server import CoordinatorRole

    class Partitions(dict):
        walks = 0

        def items(self):
            Partitions.walks += 1
            return super().items()
    parts = Partitions({"t/0": {"replicas": [1, 2]}, "t/1": {"replicas": [2, 3]}})
    role = SimpleNamespace(state=SimpleNamespace(image=SimpleNamespace(partitions=parts)))
    broker = {"id": 1}
    assert CoordinatorRole._reported(role, broker, {"offline_replicas": [],
                                                    "damaged_replicas": []}) == ([], [])
    assert CoordinatorRole._reported(role, broker, {}) == ([], [])
    assert Partitions.walks == 0
    named = {"offline_replicas": ["t/0", "t/1", "gone/0"], "damaged_replicas": ["t/0"]}
    assert CoordinatorRole._reported(role, broker, named) == (["t/0"], ["t/0"])
    assert Partitions.walks == 1


def test_an_idle_hw_checkpoint_encodes_nothing(tmp_path, monkeypatch):
    """Each second's check costs a look at the HWs, not a JSON of every replica."""
    from mini_kafka.broker import replica_manager

    async def scenario():
        m = manager(tmp_path)
        m.on_metadata(m.role.image)
        m._checkpoint_hw()
        encoded = []
        real_dumps = replica_manager.json.dumps
        monkeypatch.setattr(replica_manager.json, "dumps",
                            lambda *a, **k: encoded.append(1) or real_dumps(*a, **k))
        for _ in range(10):
            m._checkpoint_hw()
        assert encoded == []
        await produce(m, partition=1)
        m._checkpoint_hw()
        assert encoded == [1] and m._read_hw_checkpoint() == {"t/0": 0, "t/1": 1}
    asyncio.run(scenario())

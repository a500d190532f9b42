"""Raft persistence on its own thread: a Ready takes effect only once durable, in order,
several per fsync; a failed write crashes the node; closing waits for a write under way."""

import asyncio
import functools
import threading

import pytest

from mini_kafka.coordinator.raft_storage import RaftStorage
from mini_kafka.coordinator.raft_writer import RaftWriter
from mini_kafka.raft.messages import Entry, Ready, Snapshot
from mini_kafka.supervisor import Supervisor

DEADLINE_S = 5


class GatedStorage(RaftStorage):
    """Real storage whose fsync waits for the test to open a gate, and counts itself."""

    def __init__(self, directory):
        super().__init__(directory)
        self.gate = threading.Event()
        self.syncing = threading.Event()
        self.syncs = 0
        self.fail_with: Exception | None = None

    def sync(self) -> None:
        self.syncing.set()
        assert self.gate.wait(DEADLINE_S), "the test never opened the gate"
        if self.fail_with is not None:
            raise self.fail_with
        super().sync()
        self.syncs += 1


def ready(*indexes, term=1):
    return Ready(entries=[Entry(term, i, {"i": i}) for i in indexes])


async def until(condition):
    async with asyncio.timeout(DEADLINE_S):
        while not condition():
            await asyncio.sleep(0.005)


def in_loop(test):
    """Run an async test on a fresh event loop (the suite has no asyncio plugin)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))
    return run


@pytest.fixture
def rig(tmp_path):
    storage = GatedStorage(tmp_path)
    effects: list[Ready] = []
    supervisor = Supervisor("coordinator-1")
    writer = RaftWriter(storage, effects.append, supervisor)
    yield storage, writer, effects, supervisor
    storage.gate.set()
    writer.close()
    storage.close()


@in_loop
async def test_a_ready_takes_effect_only_after_its_entries_are_synced(rig):
    storage, writer, effects, _ = rig
    first = ready(1)
    writer.submit(first)
    await asyncio.get_running_loop().run_in_executor(None, storage.syncing.wait, DEADLINE_S)
    await asyncio.sleep(0.05)  # the loop runs on: nothing may take effect meanwhile
    assert effects == [] and writer.pending == 1
    storage.gate.set()
    await until(lambda: effects == [first])
    assert storage.syncs == 1 and writer.pending == 0


@in_loop
async def test_readys_queued_behind_a_sync_share_the_next_one_and_keep_their_order(rig):
    storage, writer, effects, _ = rig
    readys = [ready(1), ready(2), Ready(messages=["no disk, but after 2"]), ready(3)]
    writer.submit(readys[0])
    await asyncio.get_running_loop().run_in_executor(None, storage.syncing.wait, DEADLINE_S)
    for rd in readys[1:]:
        writer.submit(rd)
    storage.gate.set()
    await until(lambda: len(effects) == 4)
    assert effects == readys
    assert writer.batches == 2 and storage.syncs == 2  # four Readys, two fsyncs
    storage.close()
    assert [e.index for e in RaftStorage(storage.directory).entries] == [1, 2, 3]


@in_loop
async def test_a_ready_with_nothing_to_write_takes_effect_at_once_when_nothing_waits(rig):
    storage, writer, effects, _ = rig
    heartbeat = Ready(messages=["heartbeat"])
    writer.submit(heartbeat)
    assert effects == [heartbeat] and writer.pending == 0 and not storage.syncing.is_set()


@in_loop
async def test_a_snapshot_is_written_after_the_readys_queued_before_it(rig):
    storage, writer, effects, _ = rig
    writer.submit(ready(1, 2, 3))
    writer.save_snapshot(Snapshot(index=2, term=1, data={"state": 2}))
    writer.submit(ready(4))
    storage.gate.set()
    await until(lambda: len(effects) == 2 and writer.pending == 0)
    storage.close()
    back = RaftStorage(storage.directory)
    assert back.snapshot.index == 2 and [e.index for e in back.entries] == [3, 4]


@in_loop
async def test_a_failed_write_crashes_the_node_and_nothing_of_it_takes_effect(rig):
    storage, writer, effects, supervisor = rig
    storage.fail_with = OSError(28, "No space left on device")
    writer.submit(ready(1))
    storage.gate.set()
    await until(lambda: supervisor.failure is not None)
    assert "No space left on device" in supervisor.failure
    assert effects == []


@in_loop
async def test_closing_waits_for_the_write_under_way_and_drops_what_was_queued(rig):
    storage, writer, effects, _ = rig
    writer.submit(ready(1))
    await asyncio.get_running_loop().run_in_executor(None, storage.syncing.wait, DEADLINE_S)
    writer.submit(ready(2))
    threading.Timer(0.1, storage.gate.set).start()
    writer.close()  # returns only once the fsync under way is done
    assert storage.syncs == 1
    await asyncio.sleep(0)
    assert effects == []  # a closing coordinator sends and applies nothing more
    storage.close()
    assert [e.index for e in RaftStorage(storage.directory).entries] == [1]


def test_a_snapshot_covers_what_the_state_applied_not_what_raft_handed_out():
    """The core's `applied` counts committed entries handed out in Readys that may still
    wait behind a write; the snapshot must hold only what the state machine applied."""
    from types import SimpleNamespace

    from mini_kafka.coordinator.server import CoordinatorRole

    compacted, saved = [], []

    def compact(index, data):
        compacted.append((index, data))
        raft.snapshot = Snapshot(index, 1, data)

    raft = SimpleNamespace(applied=30, snapshot=Snapshot(0, 0), compact=compact)
    role = SimpleNamespace(
        raft=raft, state=SimpleNamespace(offset=12, to_snapshot=lambda: {"at": 12}),
        writer=SimpleNamespace(save_snapshot=saved.append),
        config=SimpleNamespace(limits=SimpleNamespace(raft_snapshot_interval_entries=10)))
    CoordinatorRole._maybe_snapshot(role)
    assert compacted == [(12, {"at": 12})] and saved == [Snapshot(12, 1, {"at": 12})]

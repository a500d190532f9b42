"""The launcher tells its nodes by pid and start time since boot, so a wall-clock step or
a VM paused and resumed (both move Linux's boot time, and psutil's create_time with
it) does not make live nodes look gone: `pause`, `stop` and `cluster down` still reach
them, and nothing is orphaned."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from launcher.processes import NodeProcess, started_s
from mini_kafka.config import NodeSpec

SPEC = NodeSpec("broker-1", "broker", 1, "127.0.0.1", 1)


@pytest.fixture
def child():
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_node_is_still_itself_after_the_boot_time_moves(child, monkeypatch):
    node = NodeProcess(SPEC, child.pid, started_s(child.pid), child)
    wall_clock_create_time = psutil.Process.create_time
    # What a VM resumed after 7 s looks like from the host: btime, and every process's
    # create_time, 7 s later than when the node was spawned.
    monkeypatch.setattr(psutil, "boot_time", lambda: 1_000_007.0)
    monkeypatch.setattr(psutil.Process, "create_time",
                        lambda self: wall_clock_create_time(self) + 7.0)
    assert node.alive()
    assert node.signal(0)


def test_another_process_on_the_same_pid_is_not_the_node(child):
    reused = NodeProcess(SPEC, child.pid, started_s(child.pid) - 1.0)
    assert not reused.alive()
    assert not reused.signal(0)  # never signals a stranger


def test_a_node_whose_pid_is_free_is_gone(child):
    node = NodeProcess(SPEC, child.pid, started_s(child.pid), child)
    child.kill()
    child.wait()
    assert not node.alive()
    with pytest.raises(psutil.NoSuchProcess):
        started_s(child.pid)


def test_start_time_agrees_with_psutil_and_survives_odd_process_names(tmp_path):
    odd = tmp_path / "a) b (c"  # /proc/<pid>/stat shows the name in parentheses
    odd.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(odd), "60"])
    try:
        ps = psutil.Process(proc.pid)
        assert ps.name().startswith("a) b (c")
        assert started_s(proc.pid) == pytest.approx(ps.create_time() - psutil.boot_time(),
                                                    abs=0.02)
    finally:
        proc.kill()
        proc.wait()


def test_state_file_entries_round_trip_and_old_ones_still_read(child):
    node = NodeProcess(SPEC, child.pid, started_s(child.pid))
    assert NodeProcess.from_json(SPEC, node.to_json()).alive()
    legacy = {"pid": child.pid, "create_time": psutil.Process(child.pid).create_time()}
    assert NodeProcess.from_json(SPEC, legacy).alive()  # a cluster up by an older launcher

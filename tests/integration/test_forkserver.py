"""Nodes forked by the fork server: what the launcher knew of a Popen child (exit codes,
liveness, its own session) it still knows, and without the server nodes still start."""

from __future__ import annotations

import os
import signal
import subprocess

import psutil
import pytest

from launcher.forkserver import ForkedChild, ForkServer, ForkServerGone
from tests.helpers import wait_until


def parents_of(cluster) -> set[int]:
    return {psutil.Process(n.pid).ppid() for n in cluster.nodes.values() if n.alive()}


def test_forked_nodes_are_named_report_exit_codes_and_leave_nothing(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    node = cluster.nodes["broker-2"]
    assert isinstance(node.popen, ForkedChild)
    proc = psutil.Process(node.pid)
    assert proc.name() == "broker-2"  # ps, top and pkill tell the nodes apart
    assert os.getsid(node.pid) == node.pid  # its own session, as a Popen child had
    assert cluster.warnings == []

    cluster.kill("broker-2")
    assert node.returncode() == -signal.SIGKILL
    cluster.kill("broker-1", signal.SIGTERM)
    assert cluster.nodes["broker-1"].returncode() == 0  # stopped cleanly

    cluster.restart("broker-2")  # forked again by the same server
    assert isinstance(cluster.nodes["broker-2"].popen, ForkedChild)
    assert {s.name: s.state for s in cluster.status()}["broker-2"] == "up"
    server = cluster._forkserver._proc.pid
    assert parents_of(cluster) == {server}  # every node, the restarted one too
    assert "mini_kafka.forkserver" in " ".join(psutil.Process(server).cmdline())
    cluster.stop()
    assert not psutil.pid_exists(server)  # stopped and reaped with the cluster
    assert not any(n.alive() for n in cluster.nodes.values())


def test_nodes_start_the_ordinary_way_when_the_fork_server_dies(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    orphan = cluster.nodes["broker-1"]
    server = cluster._forkserver
    server._proc.kill()
    wait_until(lambda: not server.running, timeout_s=10, what="the reader to see the server go")

    cluster.kill("broker-2")
    assert not cluster.nodes["broker-2"].alive()  # judged by its pid once orphaned
    cluster.start_node("broker-2")  # a new server is started for it
    assert isinstance(cluster.nodes["broker-2"].popen, ForkedChild)
    assert cluster._forkserver is not server

    cluster._forkserver.close(0)  # closed, not crashed: its stdin is gone
    cluster.restart("broker-1")
    restarted = cluster.nodes["broker-1"]
    assert orphan.returncode() is None and not orphan.alive()
    assert {s.name: s.state for s in cluster.status()}["broker-1"] == "up"
    assert isinstance(restarted.popen, (ForkedChild, subprocess.Popen))


def test_the_server_refuses_a_bad_request_and_reports_a_failed_node(tmp_path):
    server = ForkServer(tmp_path, reply_timeout_s=30)
    try:
        with pytest.raises(ForkServerGone, match="unknown role 'nope'"):
            server.spawn("nope", 1, "nope-1", tmp_path / "c.yaml", tmp_path / "n.log",
                         dict(os.environ), str(tmp_path))
        # A relative config path is the launcher's: the node runs in the directory given.
        (tmp_path / "c.yaml").write_text("cluster: [not, a, mapping\n")
        child = server.spawn("broker", 1, "broker-1", "c.yaml", tmp_path / "n.log",
                             dict(os.environ), str(tmp_path))
        assert child.wait(timeout=30) == 2
        log = (tmp_path / "n.log").read_text()
        assert "error:" in log and "c.yaml" in log and "not found" not in log, log
    finally:
        server.close(10)
    assert not server.running
    with pytest.raises(ForkServerGone, match="exited"):
        server.spawn("broker", 1, "broker-1", "c.yaml", tmp_path / "n.log", {}, "/")

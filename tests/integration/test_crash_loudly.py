"""A node whose state-applying code fails exits loudly (CRITICAL line, non-zero exit)
instead of living on half alive: a broker whose metadata loop died used to stay
`starting, fenced` for minutes with nothing in its log."""

from __future__ import annotations

import subprocess
import sys
import time

from launcher.cluster import probe
from launcher.processes import log_path, stop_all
from mini_kafka.errors import KafkaError
from mini_kafka.supervisor import EXIT_CRASHED

# Run a node with one piece of its state-applying code made to fail on a topic named
# "boom": the stand-in for a bug, or an error nobody has thought of yet.
PATCHED_NODE = """
import runpy, sys
target, name = sys.argv[1], sys.argv[2]
module_name, _, attr = target.rpartition(":")
cls_name, _, method = attr.partition(".")
module = __import__(module_name, fromlist=[cls_name])
cls = getattr(module, cls_name)
original = getattr(cls, method)

def failing(self, *args, **kwargs):
    if any("boom" in repr(a) or "boom" in getattr(a, "topics", ()) for a in args):
        raise RuntimeError("injected failure")
    return original(self, *args, **kwargs)

setattr(cls, method, failing)
sys.argv = [name, *sys.argv[3:]]
runpy.run_module(name, run_name="__main__")
"""


def run_patched(cluster, node: str, target: str) -> subprocess.Popen:
    spec = cluster.config.node(node)
    stop_all([cluster.nodes[node]], 5)
    return subprocess.Popen(
        [sys.executable, "-c", PATCHED_NODE, target, f"mini_kafka.{spec.role}", "--id",
         str(spec.id), "--config", str(cluster._config_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_exit(proc: subprocess.Popen, timeout_s: float = 20) -> int:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {timeout_s} s after the failure: a zombie") \
            from None


def create_boom(cluster) -> None:
    try:
        cluster.write_metadata({"op": "create_topic", "name": "boom", "partitions": 1,
                                "replication_factor": 1})
    except KafkaError:
        pass  # a coordinator may die before it answers


def wait_ready(cluster, node: str, proc: subprocess.Popen) -> None:
    spec = cluster.config.node(node)
    deadline = time.monotonic() + 20
    while not (probe(cluster.config, [spec], 500).get(node) or {}).get("ready"):
        assert proc.poll() is None, f"{node} exited at start: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"{node} not ready"
        time.sleep(0.1)


def test_a_broker_that_fails_applying_metadata_exits_loudly(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    proc = run_patched(cluster, "broker-1",
                       "mini_kafka.broker.replica_manager:ReplicaManager.reconcile")
    try:
        wait_ready(cluster, "broker-1", proc)
        create_boom(cluster)
        assert wait_exit(proc) == EXIT_CRASHED
        assert "broker-1 crashed: applying committed metadata failed" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_path(cluster.data_dir, "broker-1").read_text()
    assert "CRITICAL mini_kafka.node: broker-1: applying committed metadata failed" in log
    assert "RuntimeError: injected failure" in log  # with its traceback


def test_a_coordinator_that_fails_applying_a_command_exits_loudly(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    proc = run_patched(cluster, "coordinator-1",
                       "mini_kafka.coordinator.state:MetadataState.apply")
    try:
        wait_ready(cluster, "coordinator-1", proc)
        create_boom(cluster)
        assert wait_exit(proc) == EXIT_CRASHED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_path(cluster.data_dir, "coordinator-1").read_text()
    assert "CRITICAL mini_kafka.node: coordinator-1: applying the Raft core's output failed" in log

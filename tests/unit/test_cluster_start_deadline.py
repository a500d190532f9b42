"""Cluster start waits for nodes started together as long as the host's cores need to
start them all, then from the last node that became ready: a hundred brokers on two cores
take longer than one, without being stuck."""

from types import SimpleNamespace

import pytest

import launcher.cluster
from launcher import Cluster, ClusterError
from launcher.configs import local_cluster_config


class FakeNode:
    def alive(self) -> bool:
        return True


@pytest.fixture
def slow_start(tmp_path, monkeypatch):
    """A 1 + 6 cluster on a 2-core host; the startup timeout is 5 s. Each probe takes 3 s
    of a fake clock; the first node is ready at the fourth probe (12 s: the seven share
    two cores), then one more at each. Returns (cluster, names of nodes that never are)."""
    cluster = Cluster(local_cluster_config(tmp_path, 1, 6,
                                           {"timeouts": {"node_startup_timeout_ms": 5000}}))
    spawned = []
    cluster._config_path = tmp_path / "cluster.effective.yaml"
    monkeypatch.setattr(launcher.cluster, "spawn",
                        lambda spec, *a: spawned.append(spec.name) or FakeNode())
    monkeypatch.setattr(Cluster, "_write_state", lambda self: None)
    clock = SimpleNamespace(now=0.0, probes=0)
    stuck: set[str] = set()

    def probe(config, specs, timeout_ms):
        clock.now += 3.0
        clock.probes += 1
        ready = next((s.name for s in specs if s.name not in stuck), None) \
            if clock.probes >= 4 else None
        return {s.name: {"ready": s.name == ready} for s in specs}

    class Prober:  # launcher.cluster.StatusProber, answering as above
        def __init__(self, config):
            pass

        def __enter__(self):
            return lambda specs, timeout_ms: probe(None, specs, timeout_ms)

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(launcher.cluster, "probe", probe)  # the code before StatusProber
    monkeypatch.setattr(launcher.cluster, "StatusProber", Prober, raising=False)
    monkeypatch.setattr(launcher.cluster, "_cores", lambda: 2, raising=False)

    def sleep(seconds):
        clock.now += seconds

    monkeypatch.setattr(launcher.cluster, "time",
                        SimpleNamespace(monotonic=lambda: clock.now, sleep=sleep))
    monkeypatch.setattr(Cluster, "_tail", lambda self, name: f"(log of {name})")
    cluster.spawned = spawned
    return cluster, stuck


def test_nodes_that_share_the_cores_and_keep_becoming_ready_are_waited_for(slow_start):
    cluster, _ = slow_start
    seen = []
    cluster._spawn_and_wait(cluster.config.nodes, seen.append)  # 30 s for 7 nodes: no error
    assert seen[-1] == {"coordinator": (1, 1), "broker": (6, 6)}
    # Three a core at once (limits.starting_nodes_per_core_max): the seventh once one
    # answered, and in the order given.
    assert cluster.spawned == [s.name for s in cluster.config.nodes]


def test_a_node_that_never_becomes_ready_fails_the_timeout_after_the_last_one(slow_start):
    cluster, stuck = slow_start
    stuck.add("broker-4")
    with pytest.raises(ClusterError, match="not ready within 5000 ms of the last node "
                                           "ready: broker-4\n--- broker-4:\n"):
        cluster._spawn_and_wait(cluster.config.nodes)


def test_a_start_where_no_node_becomes_ready_fails_naming_a_few_logs(slow_start):
    cluster, stuck = slow_start
    stuck.update(s.name for s in cluster.config.nodes)
    with pytest.raises(ClusterError) as e:
        cluster._spawn_and_wait(cluster.config.nodes)
    message = str(e.value)
    assert message.startswith("not ready within 20000 ms (5000 ms a node, 7 starting on 2 "
                              "core(s)): coordinator-1, broker-1, ")
    assert message.count("--- ") == 3 and "(log of broker-2)" in message
    assert message.endswith("(and 4 more)")

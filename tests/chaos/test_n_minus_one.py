"""N-1 proof: RF=3 with min.insync.replicas=1 survives 2 of its 3 brokers down (taken one
at a time, the ISR shrinking in between): acks=all writes keep being acknowledged by the
survivor alone, and after both return (ISR back to 3) every acknowledged record is read
back, once, in order. The workload and the checker are the chaos runner's."""

from __future__ import annotations

import pytest

from launcher.chaos_runner import ChaosRun, RunSettings
from launcher.checker import check
from launcher.history import History
from launcher.nemesis import NemesisSettings
from launcher.workload import Workload, WorkloadSettings
from tests.helpers import wait_until

pytestmark = pytest.mark.chaos


def test_rf3_survives_two_of_three_brokers_down_with_nothing_acknowledged_lost(
        mini_kafka_cluster_factory, tmp_path):
    cluster = mini_kafka_cluster_factory()
    settings = RunSettings(seed=0, nemesis=NemesisSettings(1, 1, 1, ("kill",)),
                           workload=WorkloadSettings(acks="all"),
                           replication_factor=3, min_insync_replicas=1)
    history = History(tmp_path / "n-minus-1.jsonl")
    run = ChaosRun(cluster, settings, history, schedule=[])
    run.create_topic()
    workload = Workload(cluster.bootstrap, history, settings.workload).start()

    def isr_sizes():
        return {len(p["isr"]) for p in cluster.metadata().topic_partitions("chaos")}

    def acked_since(t):
        return sum(1 for e in list(history.events)
                   if e["type"] == "send" and e["phase"] == "ok" and e["invoked_t"] >= t)

    try:
        wait_until(lambda: acked_since(0) > 300, timeout_s=30, what="the workload going")
        for victim, isr_left in (("broker-1", 2), ("broker-2", 1)):
            cluster.kill(victim)
            history.record("fault", phase="start", id=isr_left, kind="kill", target=victim,
                           partitions=list(range(6)))
            wait_until(lambda n=isr_left: isr_sizes() == {n}, timeout_s=30, interval_s=0.2,
                       what=f"every ISR down to {isr_left} after killing {victim}")
        alone_since = history.now()
        wait_until(lambda: acked_since(alone_since) >= 500, timeout_s=30, interval_s=0.2,
                   what="acks=all writes acknowledged by the one surviving replica")
        for victim in ("broker-1", "broker-2"):
            cluster.start_node(victim)
            history.record("fault", phase="end", id=int(victim[-1]), kind="kill",
                           target=victim)
        assert run.await_converged(60), "the ISR never grew back to 3"
        assert isr_sizes() == {3}
    finally:
        workload.stop_producing(45)
        run.await_consumed(30)
        workload.stop_consuming(30)
    run.final_read()
    verdict = check(history.events)
    history.close()
    assert verdict.valid, verdict.anomalies
    assert acked_since(alone_since) >= 500
    assert verdict.figures["read_after_healing"] >= verdict.figures["acknowledged"]

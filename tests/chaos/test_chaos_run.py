"""The chaos runner end to end on a real cluster: a seeded run within N-1 is valid with
nothing lost and every ISR whole at the end, idle partitions included; acks=1 under a
partitioned leader shows the loss it permits."""

from __future__ import annotations

import pytest

from launcher.chaos_runner import ChaosRun, RunSettings
from launcher.history import History, load
from launcher.nemesis import FAULT_KINDS, Fault, NemesisSettings, plan
from launcher.workload import WorkloadSettings

pytestmark = pytest.mark.chaos

# Its 40 s schedule holds every fault kind once at least: a pause, a partition, a down-up
# of the whole cluster at 13 s, a clean broker restart, a coordinator kill, a kill.
SEED = 1


def run_to_verdict(cluster, settings: RunSettings, history_path, schedule=None):
    history = History(history_path)
    run = ChaosRun(cluster, settings, history, schedule=schedule)
    try:
        return run.run()
    finally:
        run.stop()
        history.close()


def test_a_seeded_run_within_n_minus_1_is_valid_with_nothing_lost(
        mini_kafka_cluster_factory, tmp_path):
    cluster = mini_kafka_cluster_factory()
    settings = RunSettings(seed=SEED, nemesis=NemesisSettings(40, 2, 3, FAULT_KINDS),
                           replication_factor=3, min_insync_replicas=2)
    verdict = run_to_verdict(cluster, settings, tmp_path / f"chaos-{SEED}.jsonl")
    assert verdict.valid, verdict.anomalies
    f = verdict.figures
    assert f["acknowledged"] > 3000 and f["indeterminate"] == 0
    # The workload's 6 partitions, 6 idle ones nothing wrote, 12 of __consumer_offsets.
    assert f["final_isr"] == [{"partitions": 24, "not_whole": 0}]
    assert f["read_after_healing"] >= f["acknowledged"]  # plus any whose ack was lost
    # The same seed gave the same schedule, and every planned fault was injected.
    planned = plan(SEED, settings.nemesis, ["broker-1", "broker-2", "broker-3"],
                   ["coordinator-1", "coordinator-2", "coordinator-3"])
    events = load(tmp_path / f"chaos-{SEED}.jsonl")
    started = [(e["kind"], e["target"]) for e in events
               if e["type"] == "fault" and e["phase"] == "start"]
    assert started == [(p.kind, p.target) for p in planned]
    assert {kind for kind, _ in started} == set(FAULT_KINDS)
    assert all(fault["recovery_s"] is not None for fault in f["faults"])


def test_acks_1_with_its_leader_cut_off_loses_acknowledged_writes_and_says_so(
        mini_kafka_cluster_factory, tmp_path):
    # Sessions shorter than the cut: the controller fences the cut-off leader and elects
    # another while it still acknowledges (at the default 9 s, a 6 s cut fences no one).
    cluster = mini_kafka_cluster_factory(overrides={"timeouts": {
        "broker_session_timeout_ms": 3_000, "broker_heartbeat_interval_ms": 1_000}})
    settings = RunSettings(seed=0, nemesis=NemesisSettings(12, 1, 6, ("partition",)),
                           workload=WorkloadSettings(acks="1", consumers=1),
                           min_insync_replicas=1, stay_within_n_minus_1=False)
    # The leader of partition 0 is cut off from every other node for 6 s; it keeps
    # acknowledging acks=1 writes nobody else can copy while a new leader takes over.
    cut = [Fault(1, 2.0, "partition", "leader-of chaos/0", 6.0)]
    verdict = run_to_verdict(cluster, settings, tmp_path / "acks1.jsonl", schedule=cut)
    assert not verdict.valid
    lost = verdict.anomaly("lost")
    assert lost is not None and lost.count > 0, verdict.anomalies
    assert all(e["partition"] is not None for e in lost.examples)


def test_a_run_driven_by_librdkafka_through_the_kafka_listeners_is_valid(
        mini_kafka_cluster_factory, tmp_path):
    """`chaos run --client kafka`: idempotent acks=all librdkafka producers and a
    librdkafka consumer group over the Kafka listeners, through broker kills, pauses and
    a partition, judged by the same checker: nothing acknowledged lost, none twice."""
    cluster = mini_kafka_cluster_factory()
    kinds = ("kill", "pause", "partition")
    settings = RunSettings(seed=7, nemesis=NemesisSettings(20, 2, 3, kinds),
                           workload=WorkloadSettings(client="kafka", consumers=2))
    verdict = run_to_verdict(cluster, settings, tmp_path / "kafka.jsonl")
    assert verdict.valid, verdict.anomalies
    f = verdict.figures
    assert f["acknowledged"] > 1500 and f["indeterminate"] == 0
    assert f["final_isr"] == [{"partitions": 24, "not_whole": 0}]
    events = load(tmp_path / "kafka.jsonl")
    assert events[0]["settings"]["client"] == "kafka"
    assert {e["kind"] for e in events if e["type"] == "fault" and e["phase"] == "start"} \
        <= set(kinds)
    # A librdkafka client that died (or confluent-kafka missing) is a workload error.
    assert not any(e["type"] == "workload_error" for e in events)

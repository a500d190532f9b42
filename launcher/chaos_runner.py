"""`mini-kafka chaos run`: a workload, a seeded nemesis, healing, a final read, a verdict.

The runner is the shell around the pure parts (launcher.nemesis plans the faults,
launcher.checker judges the history): it injects each planned fault into a live
cluster, records what it did and what the fault could touch, heals everything at the
end, waits for the cluster to converge (every replica back in sync), reads every
partition from the beginning and hands the whole history to the checker.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field

from launcher.checker import Verdict, check
from launcher.cluster import Cluster
from launcher.history import History
from launcher.nemesis import BROKER_FAULTS, Fault, NemesisSettings, plan
from launcher.workload import Workload, WorkloadSettings
from mini_kafka.client import Admin, Consumer, NewTopic, TopicPartition
from mini_kafka.errors import KafkaError

log = logging.getLogger("launcher.chaos_runner")
WAIT_INTERVAL_S = 0.2


@dataclass(frozen=True)
class RunSettings:
    seed: int
    nemesis: NemesisSettings
    workload: WorkloadSettings = field(default_factory=WorkloadSettings)
    replication_factor: int = 3
    min_insync_replicas: int = 2
    unclean_leader_election: bool = False
    # Before each broker fault, wait for every replica to be back in sync, so one broker
    # down never leaves a partition without an in-sync replica (the N-1 promise).
    stay_within_n_minus_1: bool = True
    in_sync_wait_s: float = 30.0
    converge_timeout_s: float = 60.0
    drain_timeout_s: float = 45.0
    final_read_timeout_s: float = 60.0


class ChaosRun:
    def __init__(self, cluster: Cluster, settings: RunSettings, history: History,
                 schedule: list[Fault] | None = None):
        """`schedule` replaces the seeded plan with hand-written faults (whose targets may
        be roles, e.g. `leader-of chaos/0`, resolved when each fault starts)."""
        self.cluster = cluster
        self.settings = settings
        self.history = history
        self.schedule = schedule if schedule is not None else plan(
            settings.seed, settings.nemesis,
            [s.name for s in cluster.config.nodes if s.role == "broker"],
            [s.name for s in cluster.config.nodes if s.role == "coordinator"])
        self._stop = threading.Event()

    # -- the whole run --------------------------------------------------------------------

    def run(self) -> Verdict:
        s = self.settings
        self.history.record("run", phase="start", seed=s.seed,
                            schedule=[f.to_dict() for f in self.schedule],
                            settings=_describe(s))
        self.create_topic()
        workload = Workload(self.cluster.bootstrap, self.history, s.workload).start()
        try:
            for fault in self.schedule:
                self.execute(fault)
            self._wait_until(s.nemesis.duration_s)
        finally:
            self.heal_everything()
            converged = self.await_converged(s.converge_timeout_s)
            self.history.record("heal", converged=converged)
            workload.stop_producing(s.drain_timeout_s)
            self.await_consumed(s.drain_timeout_s)
            workload.stop_consuming(s.drain_timeout_s)
        self.final_read()
        self.history.record("run", phase="end")
        return check(self.history.events)

    def create_topic(self) -> None:
        s = self.settings
        configs = {"min.insync.replicas": str(s.min_insync_replicas)}
        if s.unclean_leader_election:
            configs["unclean.leader.election.enable"] = "true"
        with Admin(self.cluster.bootstrap) as admin:
            admin.create_topics([NewTopic(s.workload.topic, s.workload.partitions,
                                          s.replication_factor, configs)])
        self._await(lambda: all(p["leader"] >= 0 for p in self._partitions()),
                    s.converge_timeout_s)

    # -- faults ---------------------------------------------------------------------------

    def execute(self, fault: Fault) -> None:
        if not self._wait_until(fault.at_s):
            return
        s = self.settings
        if s.stay_within_n_minus_1 and not self.await_converged(s.in_sync_wait_s):
            self.history.record("fault", phase="skipped", id=fault.id, kind=fault.kind,
                                target=fault.target, reason="replicas not back in sync: "
                                "injecting now could take a partition's last ISR member")
            return
        try:
            fault = dataclasses.replace(fault, target=self.cluster.resolve(fault.target))
            affected = self._affected(fault)
            self._inject(fault)
        except (KafkaError, RuntimeError) as e:
            self.history.record("fault", phase="failed", id=fault.id, kind=fault.kind,
                                target=fault.target, error=str(e))
            return
        self.history.record("fault", phase="start", id=fault.id, kind=fault.kind,
                            target=fault.target, partitions=affected)
        self._stop.wait(fault.hold_s)  # the hold is the fault's planned length
        self._repair(fault)
        self.history.record("fault", phase="end", id=fault.id, kind=fault.kind,
                            target=fault.target)

    def _inject(self, fault: Fault) -> None:
        if fault.kind in ("kill", "kill-coordinator"):
            self.cluster.kill(fault.target)
        elif fault.kind == "pause":
            self.cluster.pause(fault.target)
        elif fault.kind == "partition":
            self.cluster.partition([fault.target])

    def _repair(self, fault: Fault) -> None:
        try:
            if fault.kind in ("kill", "kill-coordinator"):
                self.cluster.start_node(fault.target)
            elif fault.kind == "pause":
                self.cluster.resume(fault.target)
            elif fault.kind == "partition":
                self.cluster.heal()
        except (KafkaError, RuntimeError) as e:  # healed for good at the end of the run
            self.history.record("fault", phase="repair_failed", id=fault.id, error=str(e))

    def _affected(self, fault: Fault) -> list[int]:
        """Partitions of the workload's topic the fault can slow: those with a replica on
        the broker (a dead follower holds acks=all back until it leaves the ISR); every
        partition for a coordinator (no leader can change while the controller is gone)."""
        parts = self._partitions()
        if fault.kind not in BROKER_FAULTS:
            return [p["partition"] for p in parts]
        broker_id = self.cluster.config.node(fault.target).id
        return [p["partition"] for p in parts if broker_id in p["replicas"]]

    # -- healing and convergence ----------------------------------------------------------

    def heal_everything(self) -> None:
        self.cluster.heal()
        for spec in self.cluster.config.nodes:
            node = self.cluster.nodes.get(spec.name)
            if node is None or not node.alive():
                try:
                    self.cluster.start_node(spec.name)
                except RuntimeError as e:
                    self.history.record("heal", phase="restart_failed", node=spec.name,
                                        error=str(e))

    def await_converged(self, timeout_s: float) -> bool:
        """Every broker unfenced, every partition led and fully in sync."""
        brokers = {s.id for s in self.cluster.config.nodes if s.role == "broker"}

        def converged() -> bool:
            image = self.cluster.metadata()
            if set(image.unfenced_broker_ids()) != brokers:
                return False
            return all(p["leader"] >= 0 and sorted(p["isr"]) == sorted(p["replicas"])
                       for p in image.topic_partitions(self.settings.workload.topic))
        return self._await(converged, timeout_s)

    def await_consumed(self, timeout_s: float) -> bool:
        """The group has committed everything written, so its reads cover the whole run."""
        topic, group = self.settings.workload.topic, self.settings.workload.group
        tps = [(topic, p) for p in range(self.settings.workload.partitions)]
        with Admin(self.cluster.bootstrap) as admin:
            return self._await(lambda: admin.list_consumer_group_offsets(group)
                               == admin.end_offsets(tps), timeout_s)

    # -- reading everything back ----------------------------------------------------------

    def final_read(self) -> None:
        topic = self.settings.workload.topic
        tps = [TopicPartition(topic, p) for p in range(self.settings.workload.partitions)]
        read: dict[int, list] = {tp.partition: [] for tp in tps}
        with Consumer(bootstrap_servers=self.cluster.bootstrap,
                      auto_offset_reset="earliest") as consumer:
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            deadline = time.monotonic() + self.settings.final_read_timeout_s
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                if time.monotonic() > deadline:
                    self.history.record("final_incomplete", ends={tp.partition: ends[tp]
                                                                  for tp in tps})
                    break
                for tp, records in consumer.poll(500).items():
                    read[tp.partition] += [[r.offset, r.value.decode()] for r in records]
        for partition, records in read.items():
            self.history.record("final", partition=partition, records=records)

    # -- helpers --------------------------------------------------------------------------

    def _partitions(self) -> list[dict]:
        return self.cluster.metadata().topic_partitions(self.settings.workload.topic)

    def _wait_until(self, at_s: float) -> bool:
        """Sleep until the run's clock reads at_s (the schedule's time); False if stopped."""
        return not self._stop.wait(max(0.0, at_s - self.history.now()))

    def _await(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if condition():
                    return True
            except (KafkaError, RuntimeError) as e:  # a node down mid-question: ask again
                log.debug("convergence check: %s", e)
            if time.monotonic() > deadline:
                return False
            self._stop.wait(WAIT_INTERVAL_S)

    def stop(self) -> None:
        self._stop.set()


def _describe(s: RunSettings) -> dict:
    return {"duration_s": s.nemesis.duration_s, "faults": list(s.nemesis.kinds),
            "interval_s": s.nemesis.interval_s, "hold_s": s.nemesis.hold_s,
            "replication_factor": s.replication_factor,
            "min_insync_replicas": s.min_insync_replicas, "acks": s.workload.acks,
            "unclean_leader_election": s.unclean_leader_election,
            "partitions": s.workload.partitions, "producers": s.workload.producers,
            "consumers": s.workload.consumers,
            "rate_per_producer_per_s": s.workload.rate_per_producer_per_s}

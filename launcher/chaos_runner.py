"""`mini-kafka chaos run`: a workload, a seeded nemesis, healing, a final read, a verdict.

The runner is the shell around the pure parts (launcher.nemesis plans the faults,
launcher.checker judges the history): it injects each planned fault into a live
cluster, records what it did and what the fault could touch, heals everything at the
end, waits for the cluster to converge (every replica of every partition back in sync,
recorded for the checker), reads every partition from the beginning and hands the whole
history to the checker.

Beside the workload's topic the run keeps an idle topic nobody writes: a broker that
restarts, or a whole cluster that goes down and up, must bring partitions that never
saw a write back to a whole ISR too.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from dataclasses import dataclass, field

from launcher.checker import Verdict, check
from launcher.cluster import Cluster
from launcher.history import History
from launcher.nemesis import BROKER_FAULTS, WHOLE_CLUSTER, Fault, NemesisSettings, plan
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
    # A topic with the same settings that nothing writes (0 partitions: none).
    idle_topic: str = "chaos-idle"
    idle_partitions: int = 6
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
        workload = self._workload().start()
        try:
            for fault in self.schedule:
                self.execute(fault)
            self._wait_until(s.nemesis.duration_s)
        finally:
            self.heal_everything()
            converged = self.await_converged(s.converge_timeout_s, every_topic=True)
            self.history.record("heal", converged=converged)
            self.record_final_isr()
            workload.stop_producing(s.drain_timeout_s)
            self.await_consumed(s.drain_timeout_s)
            workload.stop_consuming(s.drain_timeout_s)
        self.final_read()
        self.history.record("run", phase="end")
        return check(self.history.events)

    def _workload(self) -> Workload:
        if self.settings.workload.client == "kafka":
            from launcher.kafka_workload import KafkaClientWorkload
            return KafkaClientWorkload(self.cluster.kafka_bootstrap, self.history,
                                       self.settings.workload)
        return Workload(self.cluster.bootstrap, self.history, self.settings.workload)

    def create_topic(self) -> None:
        s = self.settings
        configs = {"min.insync.replicas": str(s.min_insync_replicas)}
        if s.unclean_leader_election:
            configs["unclean.leader.election.enable"] = "true"
        topics = [NewTopic(s.workload.topic, s.workload.partitions, s.replication_factor,
                           configs)]
        if s.idle_partitions:
            topics.append(NewTopic(s.idle_topic, s.idle_partitions, s.replication_factor,
                                   configs))
        with Admin(self.cluster.bootstrap) as admin:
            admin.create_topics(topics)
        self._await(lambda: all(p["leader"] >= 0 for t in topics
                                for p in self.cluster.metadata().topic_partitions(t.name)),
                    s.converge_timeout_s)

    # -- faults ---------------------------------------------------------------------------

    def execute(self, fault: Fault) -> None:
        if not self._wait_until(fault.at_s):
            return
        s = self.settings
        # Waits for the replicas make faults late; the run still ends on time, so a
        # cluster that never gets back in sync costs one wait, not one per fault left.
        left_s = s.nemesis.duration_s - self.history.now()
        if left_s <= 0:
            self.history.record("fault", phase="skipped", id=fault.id, kind=fault.kind,
                                target=fault.target, reason="the run's duration is over "
                                "(earlier faults ran late)")
            return
        if s.stay_within_n_minus_1 and not self.await_converged(min(s.in_sync_wait_s,
                                                                    left_s)):
            self.history.record("fault", phase="skipped", id=fault.id, kind=fault.kind,
                                target=fault.target, reason="replicas not back in sync: "
                                "injecting now could take a partition's last ISR member")
            return
        try:
            if fault.target != WHOLE_CLUSTER:
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
        elif fault.kind == "restart":
            self.cluster.kill(fault.target, signal.SIGTERM)  # waits for its clean exit
        elif fault.kind == "pause":
            self.cluster.pause(fault.target)
        elif fault.kind == "partition":
            self.cluster.partition([fault.target])
        elif fault.kind == "down-up":
            self.cluster.stop()

    def _repair(self, fault: Fault) -> None:
        try:
            if fault.kind in ("kill", "kill-coordinator", "restart"):
                self.cluster.start_node(fault.target)
            elif fault.kind == "pause":
                self.cluster.resume(fault.target)
            elif fault.kind == "partition":
                self.cluster.heal()
            elif fault.kind == "down-up":
                self.cluster.start()  # the same ports: clients keep their bootstrap list
        except (KafkaError, RuntimeError) as e:  # healed for good at the end of the run
            self.history.record("fault", phase="repair_failed", id=fault.id, error=str(e))

    def _affected(self, fault: Fault) -> list[int]:
        """Partitions of the workload's topic the fault can slow: those with a replica on
        the broker (a dead follower holds acks=all back until it leaves the ISR); every
        partition for a coordinator (no leader can change while the controller is gone)
        and for a down-up."""
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

    def await_converged(self, timeout_s: float, every_topic: bool = False) -> bool:
        """Every broker unfenced, every partition of the workload's topic (of every topic,
        internal ones included, with `every_topic`) led and fully in sync."""
        brokers = {s.id for s in self.cluster.config.nodes if s.role == "broker"}

        def converged() -> bool:
            image = self.cluster.metadata()
            if set(image.unfenced_broker_ids()) != brokers:
                return False
            return not _not_whole(image, None if every_topic else self.settings.workload.topic)
        return self._await(converged, timeout_s)

    def record_final_isr(self) -> None:
        """What the checker needs to judge the end state: every partition that is not
        whole (no leader, or an ISR short of its replicas) and every broker not back."""
        brokers = sorted(s.id for s in self.cluster.config.nodes if s.role == "broker")
        try:
            image = self.cluster.metadata(linearizable=True)
        except (KafkaError, RuntimeError) as e:
            self.history.record("final_isr", partitions=0, not_whole=[],
                                brokers_not_back=brokers, error=str(e))
            return
        unfenced = set(image.unfenced_broker_ids())
        self.history.record("final_isr", partitions=len(image.partitions),
                            topics=sorted(image.topics), not_whole=_not_whole(image),
                            brokers_not_back=[b for b in brokers if b not in unfenced])

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


def _not_whole(image, topic: str | None = None) -> list[dict]:
    """Partitions (of `topic`, or of every topic) without a leader or with an ISR short
    of their replicas."""
    parts = image.topic_partitions(topic) if topic else \
        sorted(image.partitions.values(), key=lambda p: (p["topic"], p["partition"]))
    return [{k: p[k] for k in ("topic", "partition", "leader", "replicas", "isr")}
            for p in parts if p["leader"] < 0 or sorted(p["isr"]) != sorted(p["replicas"])]


def _describe(s: RunSettings) -> dict:
    return {"duration_s": s.nemesis.duration_s, "faults": list(s.nemesis.kinds),
            "interval_s": s.nemesis.interval_s, "hold_s": s.nemesis.hold_s,
            "replication_factor": s.replication_factor,
            "min_insync_replicas": s.min_insync_replicas, "client": s.workload.client,
            "acks": s.workload.acks,
            "unclean_leader_election": s.unclean_leader_election,
            "partitions": s.workload.partitions, "idle_partitions": s.idle_partitions,
            "producers": s.workload.producers,
            "consumers": s.workload.consumers,
            "rate_per_producer_per_s": s.workload.rate_per_producer_per_s}

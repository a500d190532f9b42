"""What a leader broker keeps up for the partitions it leads, on the ISR-check timer.

- ISR changes: a follower that lags longer than replica_lag_time_max_ms leaves the ISR,
  one that has caught up joins it (AlterPartition). Every change due at once goes in one
  controller write, one write in flight at a time (isr_gate.py).
- Nudges: a follower whose fetch this leader has lost track of is asked to fetch again
  (fetch_nudges.py).
Fenced brokers, and replicas their brokers report offline, are never asked into an ISR
nor nudged.
"""

from __future__ import annotations

import logging
from typing import Any

from mini_kafka.broker.fetch_nudges import FetchNudges
from mini_kafka.broker.isr_gate import IsrGate
from mini_kafka.broker.partition import LEADER, Partition
from mini_kafka.errors import KafkaError
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.broker.replicas")


class LeaderUpkeep:
    def __init__(self, manager):
        self.manager = manager  # the ReplicaManager: partitions, config, node, role
        self.clock = manager.clock
        t = manager.config.timeouts
        self._nudges = FetchNudges(t.replica_fetch_silence_ms)
        self._isr_gate = IsrGate(manager.config.limits.retry_backoff_ms,
                                 t.replica_lag_time_max_ms)
        self._eligibility_of: tuple[MetadataImage, int] | None = None
        self._eligibility_cache: tuple[frozenset[int], frozenset[int],
                                       dict[int, frozenset[str]]] = (frozenset(),) * 2 + ({},)

    def check(self) -> None:
        """Every ISR change due now, in one write; and the nudges due."""
        now = self.clock.monotonic_ms()
        self._nudge_silent_followers(now)
        if not self._isr_gate.may_send(now):
            return  # a write in flight, or backing off: what is due now goes in the next
        lag_ms = self.manager.config.timeouts.replica_lag_time_max_ms
        known, fenced, offline = self.eligibility()
        changes = []
        for part in list(self.manager.partitions.values()):
            if part.role != LEADER or part.leader_state is None:
                continue
            key = f"{part.topic}/{part.partition}"
            ineligible = fenced | {b for b in part.leader_state.followers
                                   if b not in known or key in offline.get(b, ())}
            wanted = part.leader_state.wanted_isr(now, lag_ms, ineligible)
            if wanted is None:
                continue
            part.leader_state.pending_isr = wanted  # counts for the HW from now on
            changes.append((part, part.leader_state, wanted))
        if changes:
            self._isr_gate.sent()
            self.manager.node.supervisor.spawn(self._alter_isrs(changes), "ISR changes")

    def _nudge_silent_followers(self, now: int) -> None:
        """Ask followers whose fetch this leader has lost track of to fetch again
        (fetch_nudges.py); fenced brokers and ones the metadata lacks are not asked."""
        silence_ms = self._nudges.silence_ms
        silent: set[int] = set()
        for part in self.manager.partitions.values():
            if part.role == LEADER and part.leader_state is not None:
                silent.update(part.leader_state.silent_followers(now, silence_ms))
        known, fenced, _ = self.eligibility()
        due = self._nudges.due({b for b in silent if b in known and b not in fenced}, now)
        if due:
            self.manager.node.supervisor.spawn(self._send_nudges(due), "asking followers to fetch")

    async def _send_nudges(self, brokers: list[int]) -> None:
        for broker in brokers:
            self.manager.repeats.log(
                logging.INFO, ("nudge", broker), "broker %d has no fetch waiting here and "
                "sent none for %d ms: asking it to fetch", broker, self._nudges.silence_ms)
            endpoint = self.manager.config.cluster_endpoint_of(f"broker-{broker}")
            if endpoint is not None:  # dropped if it is not connected: asked again later
                await self.manager.node.client.send_oneway(endpoint, ApiKey.FETCH_NUDGE, {})

    def eligibility(self) -> tuple[frozenset[int], frozenset[int], dict[int, frozenset[str]]]:
        """The brokers the image knows, those fenced, and each one's offline replicas:
        worked out once per metadata change rather than at every ISR check, which went
        over every broker's record twice a second (about half of a check's cost on a
        broker of 100)."""
        image = self.manager.role.image
        if self._eligibility_of != (image, image.offset):
            brokers = image.brokers
            self._eligibility_cache = (
                frozenset(brokers),
                frozenset(b for b, info in brokers.items() if info["fenced"]),
                {b: frozenset(info["offline"]) for b, info in brokers.items()
                 if info.get("offline")})
            self._eligibility_of = (image, image.offset)
        return self._eligibility_cache

    async def _alter_isrs(self, changes: list[tuple[Partition, Any, list[int]]]) -> None:
        """Every ISR change due now in one controller write (Kafka's AlterPartition
        carries many partitions): when followers of a thousand partitions fall behind
        together, that is one Raft entry, not a thousand."""
        command = {"op": "alter_partitions", "changes": [
            {"topic": part.topic, "partition": part.partition, "leader": self.manager.broker_id,
             "leader_epoch": state.leader_epoch, "partition_epoch": state.partition_epoch,
             "isr": isr} for part, state, isr in changes]}
        for part, _, isr in changes:
            log.info("%s: asking to change the ISR %s -> %s", part.name, part.isr, isr)
        failed = True  # no answer from a controller (refused partitions are an answer)
        try:
            results = (await self.manager.role.controller.write(command))["results"]
            failed = False
        except KafkaError as e:
            results = [{"error": e.error.name, "message": e.message}] * len(changes)
        finally:
            self._isr_gate.done(failed, self.clock.monotonic_ms())
        now = self.clock.monotonic_ms()
        for (part, state, isr), result in zip(changes, results, strict=True):
            if result["error"] != "NONE":
                log.info("%s: ISR change to %s refused: %s: %s", part.name, isr,
                         result["error"], result.get("message", ""))
                if part.leader_state is state:
                    state.on_isr_change_failed()
            elif part.leader_state is state:
                part.apply_metadata(result["partition"], now)

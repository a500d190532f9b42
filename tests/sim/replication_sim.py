"""One partition, three replicas, a controller, and a seeded storm — in one process.

The replicas are the broker's real Partition objects over real logs (in a temporary
directory); the controller is the real metadata state machine. What is simulated is
everything between them: fetches and responses travel with seeded delays and losses,
brokers learn committed metadata late, brokers crash (their unflushed page cache
survives, as with SIGKILL, but every in-memory structure is rebuilt from disk) or stop
cleanly (controlled shutdown, then a clean close), links are cut, followers go slow,
leaders fail over in quick succession, and the controller moves leadership back to
preferred replicas — often in quiet stretches with no writes, so many leader epochs
begin and end empty (KAFKA-7415: a replica that led an empty epoch must still rejoin).

Checked, after the storm heals and the replicas converge:
- no acks=all record is lost;
- no offset ever holds two different records;
- no record a consumer read (below the high watermark) is later truncated away;
- all replicas end with identical logs;
- and all along, every eligible leader replica (ELR: one that left the ISR while it was
  below min.insync.replicas) holds every acknowledged record, as the controller assumes
  when it puts them in place of a last in-sync replica that lost data.
Replay one seed: python -m tests.sim.replication_sim SEED
"""

from __future__ import annotations

import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mini_kafka import records
from mini_kafka.broker.log import LogConfig, PartitionLog
from mini_kafka.broker.partition import LEADER, Partition
from mini_kafka.clock import ManualClock
from mini_kafka.config import config_from_dict
from mini_kafka.coordinator.state import MetadataState
from mini_kafka.errors import KafkaError

TOPIC = "t"
BROKERS = (1, 2, 3)
STEP_MS = 10
SESSION_MS = 300
LAG_MS = 200
MIN_ISR = 2
ELR_CHECK_EVERY_STEPS = 10
ACK_TIMEOUT_STEPS = 3000  # 30 s: the producer's request.timeout.ms in steps


class ReplicationViolation(AssertionError):
    pass


@dataclass
class Broker:
    id: int
    directory: Path
    part: Partition | None = None
    alive: bool = True
    epoch: int = -1
    incarnation: int = 0
    slow: bool = False
    last_heartbeat_ms: int = 0
    fetch_in_flight: bool = False


@dataclass
class Storm:
    crash: float = 0.01
    restart: float = 0.1
    cut: float = 0.01
    heal: float = 0.05
    slow: float = 0.01
    drop: float = 0.05
    metadata_delay_steps_max: int = 5
    network_delay_steps_max: int = 3
    produce: float = 0.6
    stop: float = 0.005  # a controlled shutdown and a clean close
    elect_preferred: float = 0.01
    quiet: float = 0.01  # starts or ends a stretch with no writes


@dataclass
class Simulation:
    seed: int
    root: Path
    storm: Storm = field(default_factory=Storm)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.clock = ManualClock()
        config = config_from_dict({"brokers": {"count": 3},
                                   "topics": {"min_insync_replicas": MIN_ISR}})
        self.controller = MetadataState(config)
        self.offset = 0
        self.brokers = {b: Broker(b, self.root / f"broker-{b}") for b in BROKERS}
        self.cut: set[int] = set()  # brokers cut off from everyone
        self.network: list[tuple[int, int, object]] = []  # (due step, seq, delivery)
        self.seq = 0
        self.step_no = 0
        self.value_no = 0
        self.acked: dict[bytes, tuple[int, int]] = {}  # value -> acked (offset)
        self.pending: list[tuple] = []  # (broker, incarnation, header, epoch, values, deadline)
        self.seen: dict[int, bytes] = {}  # offset -> value a consumer read
        self.metadata_due: dict[int, int] = {}  # broker -> step it next learns metadata
        self.quiet = False
        for b in self.brokers.values():
            self._register(b)
        self._commit({"op": "create_topic", "name": TOPIC, "partitions": 1,
                      "replication_factor": 3})
        for b in self.brokers.values():
            self._open(b)

    def fail(self, what: str) -> None:
        raise ReplicationViolation(f"seed {self.seed} step {self.step_no}: {what}\n"
                                   f"replay: python -m tests.sim.replication_sim {self.seed}")

    # -- controller -----------------------------------------------------------------------

    def _commit(self, command: dict) -> dict:
        self.offset += 1
        return self.controller.apply(self.offset, command)

    def _register(self, b: Broker) -> None:
        b.incarnation += 1
        result = self._commit({"op": "register_broker", "broker_id": b.id,
                               "endpoint": f"b{b.id}", "incarnation": f"{b.incarnation}"})
        b.epoch = result["broker_epoch"]
        self._commit({"op": "unfence_broker", "broker_id": b.id, "broker_epoch": b.epoch})
        b.last_heartbeat_ms = self.clock.monotonic_ms()

    def _state(self) -> dict:
        return self.controller.image.partition(TOPIC, 0)

    def _controller_duties(self) -> None:
        now = self.clock.monotonic_ms()
        expired = []
        for b in self.brokers.values():
            if b.alive and b.id not in self.cut:
                b.last_heartbeat_ms = now  # it heartbeats; caught up, it is unfenced again
                if self.controller.image.brokers[b.id]["fenced"]:
                    self._commit({"op": "unfence_broker", "broker_id": b.id,
                                  "broker_epoch": b.epoch})
            elif now - b.last_heartbeat_ms > SESSION_MS and \
                    not self.controller.image.brokers[b.id]["fenced"]:
                expired.append({"broker_id": b.id, "broker_epoch": b.epoch})
        if expired:  # as the controller does: every expiry of this tick in one change
            self._commit({"op": "fence_brokers", "brokers": expired})

    # -- brokers --------------------------------------------------------------------------

    def _open(self, b: Broker) -> None:
        plog = PartitionLog(b.directory, LogConfig(segment_bytes=4096,
                                                   index_interval_bytes=256), self.clock)
        b.part = Partition(TOPIC, 0, plog, b.id, high_watermark=0)
        b.part.apply_metadata(self._state(), self.clock.monotonic_ms())

    def _crash(self, b: Broker) -> None:
        b.alive = False
        b.part = None  # the page cache survives a kill: the files stay as written
        b.fetch_in_flight = False

    def _stop_cleanly(self, b: Broker) -> None:
        """Controlled shutdown: the controller moves its leaderships and ISR seats first."""
        if not self.controller.image.brokers[b.id]["fenced"]:
            self._commit({"op": "fence_broker", "broker_id": b.id, "broker_epoch": b.epoch})
        b.part.close()
        self._crash(b)

    def _restart(self, b: Broker) -> None:
        b.alive = True
        self._open(b)
        self._register(b)

    def _learn_metadata(self) -> None:
        for b in self.brokers.values():
            if not b.alive or b.id in self.cut:
                continue
            due = self.metadata_due.setdefault(
                b.id, self.step_no + self.rng.randint(0, self.storm.metadata_delay_steps_max))
            if due <= self.step_no:
                b.part.apply_metadata(self._state(), self.clock.monotonic_ms())
                del self.metadata_due[b.id]

    # -- the network ----------------------------------------------------------------------

    def _send(self, src: Broker, dst_id: int, deliver) -> None:
        if src.id in self.cut or dst_id in self.cut or self.rng.random() < self.storm.drop:
            return
        delay = self.rng.randint(1, self.storm.network_delay_steps_max)
        if src.slow or self.brokers[dst_id].slow:
            delay += 15
        self.seq += 1
        self.network.append((self.step_no + delay, self.seq, deliver))

    def _deliver_due(self) -> None:
        due = sorted((m for m in self.network if m[0] <= self.step_no), key=lambda m: m[:2])
        self.network = [m for m in self.network if m[0] > self.step_no]
        for _, _, deliver in due:
            deliver()

    def _replicate(self) -> None:
        for f in self.brokers.values():
            if not f.alive or f.fetch_in_flight or f.part.role == LEADER:
                continue
            leader = self.brokers.get(f.part.leader)
            if leader is None:
                continue
            f.fetch_in_flight = True
            request = (f.part.log.log_end_offset, f.part.log.epochs.latest_epoch,
                       f.part.leader_epoch, f.incarnation)
            self._send(f, leader.id, lambda f=f, leader=leader, r=request: self._serve(
                f, leader, *r))
            self.seq += 1  # a lost fetch or answer: the follower tries again later
            self.network.append((self.step_no + 40, self.seq, lambda f=f, i=f.incarnation:
                                 self._fetch_timeout(f, i)))

    def _fetch_timeout(self, f: Broker, incarnation: int) -> None:
        if f.incarnation == incarnation:
            f.fetch_in_flight = False

    def _serve(self, f: Broker, leader: Broker, offset, last_epoch, epoch, incarnation) -> None:
        if not leader.alive:
            return
        result = {"error": "NONE"}
        data = b""
        try:
            fields, data = leader.part.read(offset, 2048, f.id, last_epoch,
                                            self.clock.monotonic_ms(), epoch)
            result.update(fields)
        except KafkaError as e:
            result.update(error=e.error.name, log_start_offset=leader.part.log.log_start_offset,
                          log_end_offset=leader.part.log.log_end_offset)
        self._send(leader, f.id,
                   lambda: self._receive(f, offset, result, data, epoch, incarnation))

    def _receive(self, f: Broker, offset, result, data, epoch, incarnation) -> None:
        if not f.alive or f.incarnation != incarnation:
            return
        f.fetch_in_flight = False
        if f.part.role != LEADER and f.part.leader_epoch == epoch:
            f.part.apply_fetch(offset, result, data)

    # -- leaders --------------------------------------------------------------------------

    def _maintain_isr(self) -> None:
        for b in self.brokers.values():
            if not b.alive or b.id in self.cut or b.part.role != LEADER:
                continue
            state = b.part.leader_state
            wanted = state.wanted_isr(self.clock.monotonic_ms(), LAG_MS)
            if wanted is None:
                continue
            state.pending_isr = wanted
            result = self._commit({"op": "alter_partition", "topic": TOPIC, "partition": 0,
                                   "leader": b.id, "leader_epoch": state.leader_epoch,
                                   "partition_epoch": state.partition_epoch, "isr": wanted})
            if result["error"] == "NONE":
                b.part.apply_metadata(result["partition"], self.clock.monotonic_ms())
            else:
                state.on_isr_change_failed()

    # -- clients --------------------------------------------------------------------------

    def _produce(self) -> None:
        """A producer sends to whoever it believes leads (brokers may disagree)."""
        leaders = [b for b in self.brokers.values() if b.alive and b.part.role == LEADER]
        if not leaders or self.quiet or self.rng.random() > self.storm.produce:
            return
        b = self.rng.choice(leaders)
        values = []
        for _ in range(self.rng.randint(1, 4)):
            self.value_no += 1
            values.append(b"v%d" % self.value_no)
        batch = records.encode_batch([(None, v, self.clock.wall_ms(), None) for v in values])
        try:
            header = b.part.append_as_leader(batch, -1, MIN_ISR)
        except KafkaError:
            return
        written_in = b.part.log.epochs.epoch_at(header.base_offset)
        self.pending.append((b, b.incarnation, header, written_in, values,
                             self.step_no + ACK_TIMEOUT_STEPS))

    def _complete_acks(self) -> None:
        still = []
        for entry in self.pending:
            b, incarnation, header, written_in, values, deadline = entry
            if not b.alive or b.incarnation != incarnation or self.step_no > deadline:
                continue  # the client got an error or timed out: not acknowledged
            # As the broker's acks=all wait: on across a change of leader while this
            # replica still holds the write.
            try:
                if b.part.acked(header.base_offset, header.next_offset, written_in, MIN_ISR):
                    for i, v in enumerate(values):
                        self.acked[v] = header.base_offset + i
                    continue
            except KafkaError:
                continue
            still.append(entry)
        self.pending = still

    def _consume(self) -> None:
        for b in self.brokers.values():
            if not b.alive or b.part.role != LEADER or b.part.hw == b.part.log.log_start_offset:
                continue
            offset = self.rng.randrange(b.part.log.log_start_offset, b.part.hw)
            data = b.part.log.read(offset, 1024, upto_offset=b.part.hw)
            for _, r in records.decode_batches(data):
                if r.offset >= b.part.hw:
                    self.fail(f"broker {b.id} served offset {r.offset} at or past HW {b.part.hw}")
                known = self.seen.setdefault(r.offset, r.value)
                if known != r.value:
                    self.fail(f"offset {r.offset} read as {known!r} and later as {r.value!r}")

    # -- faults ---------------------------------------------------------------------------

    def _faults(self) -> None:
        s, rng = self.storm, self.rng
        alive = [b for b in self.brokers.values() if b.alive]
        dead = [b for b in self.brokers.values() if not b.alive]
        if alive and rng.random() < s.crash:
            # Leaders more often than followers: fast successive failovers.
            leaders = [b for b in alive if b.part.role == LEADER]
            self._crash(rng.choice(leaders if leaders and rng.random() < 0.7 else alive))
        if dead and rng.random() < s.restart:
            self._restart(rng.choice(dead))
        alive = [b for b in self.brokers.values() if b.alive]
        if alive and rng.random() < s.stop:
            self._stop_cleanly(rng.choice(alive))
        if rng.random() < s.elect_preferred:
            self._commit({"op": "elect_preferred_leaders"})
        if rng.random() < s.quiet:
            self.quiet = not self.quiet
        if rng.random() < s.cut:
            self.cut = {rng.choice(BROKERS)}
        if self.cut and rng.random() < s.heal:
            self.cut = set()
        if rng.random() < s.slow:
            for b in self.brokers.values():
                b.slow = rng.random() < 0.3

    # -- running --------------------------------------------------------------------------

    def step(self, faults: bool = True) -> None:
        self.step_no += 1
        self.clock.advance(STEP_MS)
        if faults:
            self._faults()
        self._controller_duties()
        self._learn_metadata()
        self._replicate()
        self._deliver_due()
        self._maintain_isr()
        if faults:
            self._produce()
        self._complete_acks()
        self._consume()
        if self.step_no % ELR_CHECK_EVERY_STEPS == 0:
            self._check_eligible_replicas()

    def _check_eligible_replicas(self) -> None:
        for b in (self.brokers[r] for r in self._state().get("elr", [])):
            if not b.alive:
                continue
            held = self._contents(b)
            for value, offset in self.acked.items():
                if held.get(offset) != value:
                    self.fail(f"eligible replica {b.id} lacks acknowledged {value!r} at "
                              f"offset {offset}")

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()
        self.heal_and_check()

    def heal_and_check(self, steps_max: int = 3000) -> None:
        self.cut = set()
        for b in self.brokers.values():
            b.slow = False
            if not b.alive:
                self._restart(b)
        self.storm = Storm(drop=0.0)
        self.quiet = False
        for _ in range(steps_max):
            self.step(faults=False)
            state = self._state()
            leader = self.brokers.get(state["leader"])
            # Converged: every follower has fetched the leader's log end in this epoch
            # (and so has nothing left to diverge on), and all of it is committed.
            if leader and len(state["isr"]) == 3 and leader.part.role == LEADER and all(
                    b.part.log.log_end_offset == leader.part.hw for b in self.brokers.values()
            ) and all(f.leo == leader.part.hw
                      for f in leader.part.leader_state.followers.values()):
                break
        else:
            self.fail(f"no convergence after healing: {self._state()}")
        # Every epoch cache agrees with the log it describes: the leader's may end with
        # the epoch it has not written in yet; followers hold no epoch it does not.
        leader = self.brokers[self._state()["leader"]]
        written = [e for e in leader.part.log.epochs.entries
                   if e[1] < leader.part.log.log_end_offset]
        for b in self.brokers.values():
            if b is not leader and b.part.log.epochs.entries != written:
                self.fail(f"replica {b.id}'s leader epochs {b.part.log.epochs.entries} are "
                          f"not the leader's {leader.part.log.epochs.entries}")
        logs = {b.id: self._contents(b) for b in self.brokers.values()}
        final = logs[self._state()["leader"]]
        for b, contents in logs.items():
            if contents != final:
                self.fail(f"replica {b} differs from the leader after convergence")
        by_value = {}
        for offset, value in final.items():
            if value in by_value:
                self.fail(f"{value!r} stored twice (offsets {by_value[value]} and {offset})")
            by_value[value] = offset
        for value, offset in self.acked.items():
            if by_value.get(value) != offset:
                self.fail(f"acknowledged {value!r} at offset {offset} is "
                          f"{'lost' if value not in by_value else f'at {by_value[value]}'}")
        for offset, value in self.seen.items():
            if final.get(offset) != value:
                self.fail(f"a consumer read {value!r} at {offset}, later gone "
                          f"(now {final.get(offset)!r})")

    @staticmethod
    def _contents(b: Broker) -> dict[int, bytes]:
        out = {}
        pos = b.part.log.log_start_offset
        while pos < b.part.log.log_end_offset:
            chunk = b.part.log.read(pos, 1 << 20)
            for _, r in records.decode_batches(chunk):
                out[r.offset] = r.value
            pos = max([pos + 1] + [h.next_offset for _, h in records.iter_headers(chunk)])
        return out


def run_seed(seed: int, steps: int = 1500, storm: Storm | None = None) -> Simulation:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation(seed, Path(tmp), storm or Storm())
        sim.run(steps)
        for b in sim.brokers.values():
            b.part.log.close()
        return sim


if __name__ == "__main__":
    sim = run_seed(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1500)
    print(f"seed {sim.seed}: safe; {len(sim.acked)} acknowledged, {len(sim.seen)} read, "
          f"leader epoch {sim._state()['leader_epoch']}")

"""A whole Raft ensemble in one process, driven by one seed.

The network drops, duplicates, delays (and so reorders) and partitions messages; nodes
crash (losing everything not persisted) and restart from what they persisted; the log is
compacted into snapshots. Every step checks Raft's safety properties:

- election safety: at most one leader per term;
- log matching: two logs with an entry of the same index and term agree up to it;
- leader completeness: a new leader holds every entry committed before its term;
- state-machine safety: no two nodes apply different entries at one index.

After the faults stop, the network heals and every node restarts; the ensemble must elect
a leader and converge (liveness), and every proposal must have resolved: committed, or
overwritten (reported failed). Run one seed by hand:  python -m tests.sim.raft_sim 42 5
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

from mini_kafka.raft.core import LEADER, RaftConfig, RaftNode
from mini_kafka.raft.messages import Entry, Msg, Snapshot


class SafetyViolation(AssertionError):
    pass


@dataclass
class Disk:
    """What a node fsynced: it survives crashes."""
    term: int = 0
    voted_for: int | None = None
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(0, 0, ()))
    entries: list[Entry] = field(default_factory=list)


@dataclass
class SimNode:
    id: int
    disk: Disk = field(default_factory=Disk)
    raft: RaftNode | None = None
    applied: list[tuple[int, int, object]] = field(default_factory=list)  # state machine


@dataclass(frozen=True)
class Faults:
    drop: float = 0.05
    duplicate: float = 0.03
    delay_ticks_max: int = 4
    crash: float = 0.004
    restart: float = 0.05
    partition: float = 0.004
    heal: float = 0.02
    propose: float = 0.3
    compact: float = 0.01


CALM = Faults()
CALM_CONFIG = RaftConfig(election_ticks=10, heartbeat_ticks=2)
# Frequent crashes, quick restarts and partitions: many elections with half-replicated
# tails, the ground where subtle bugs (a forgotten vote, committing an old term's entry
# by counting replicas: Raft's Figure 8) show themselves.
STORM = Faults(drop=0.1, duplicate=0.05, delay_ticks_max=6, crash=0.03, restart=0.2,
               partition=0.02, heal=0.05, propose=0.5, compact=0.01)
# Election timeouts close to the network delay: elections overlap constantly.
STORM_CONFIG = RaftConfig(election_ticks=4, heartbeat_ticks=1)


class Simulation:
    def __init__(self, seed: int, size: int, faults: Faults = CALM,
                 config: RaftConfig = CALM_CONFIG):
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults
        self.config = config
        self.ids = list(range(1, size + 1))
        self.nodes = {i: SimNode(i) for i in self.ids}
        self.now = 0
        self.network: list[tuple[int, int, Msg]] = []  # (deliver_at, sequence, message)
        self.sequence = 0
        self.cut: set[tuple[int, int]] = set()
        self.leaders: dict[int, int] = {}  # term -> leader id
        self.committed: dict[int, tuple[int, object]] = {}  # index -> (term, data)
        self.proposals: list[tuple[int, int, object]] = []  # (index, term, value)
        self.proposal_counter = 0
        for node in self.nodes.values():
            self._start(node)

    def fail(self, what: str) -> None:
        raise SafetyViolation(f"seed {self.seed} step {self.now}: {what}\n"
                              f"replay: python -m tests.sim.raft_sim {self.seed} "
                              f"{len(self.ids)}")

    # -- nodes ----------------------------------------------------------------------------

    def _start(self, node: SimNode) -> None:
        d = node.disk
        node.raft = RaftNode(node.id, self.ids, self.config, random.Random(self.rng.random()),
                             term=d.term, voted_for=d.voted_for, snapshot=d.snapshot,
                             entries=list(d.entries))
        node.applied = list(d.snapshot.data)  # restore the state machine from the snapshot

    def _crash(self, node: SimNode) -> None:
        node.raft = None

    def _process_ready(self, node: SimNode) -> None:
        raft = node.raft
        rd = raft.ready()
        if not rd:
            return
        d = node.disk
        if rd.hard_state:
            d.term, d.voted_for = rd.hard_state
        if rd.snapshot:
            d.snapshot = rd.snapshot
            d.entries = [e for e in d.entries if e.index > rd.snapshot.index]
            node.applied = list(rd.snapshot.data)
        if rd.truncate_from is not None:
            d.entries = [e for e in d.entries if e.index < rd.truncate_from]
        d.entries.extend(rd.entries)
        expected = d.snapshot.index + 1
        for e in d.entries:
            if e.index != expected:
                self.fail(f"node {node.id} persisted a log with a gap at {expected}")
            expected += 1
        for msg in rd.messages:
            self._send(msg)
        for entry in rd.committed:
            self._apply(node, entry)
        if raft.role == LEADER:
            self._check_new_leader(node)

    def _apply(self, node: SimNode, entry: Entry) -> None:
        last = node.applied[-1][0] if node.applied else node.disk.snapshot.index
        if entry.index != last + 1:
            self.fail(f"node {node.id} applied {entry.index} after {last}")
        seen = self.committed.get(entry.index)
        if seen is None:
            self.committed[entry.index] = (entry.term, entry.data)
        elif seen != (entry.term, entry.data):
            self.fail(f"state-machine safety: index {entry.index} applied as {seen} and as "
                      f"{(entry.term, entry.data)} (node {node.id})")
        node.applied.append((entry.index, entry.term, entry.data))

    def _check_new_leader(self, node: SimNode) -> None:
        raft = node.raft
        known = self.leaders.get(raft.term)
        if known == node.id:
            return
        if known is not None:
            self.fail(f"election safety: term {raft.term} has leaders {known} and {node.id}")
        self.leaders[raft.term] = node.id
        for index, (term, _) in self.committed.items():
            if index > raft.snapshot.index and raft.term_at(index) != term:
                self.fail(f"leader completeness: leader {node.id} of term {raft.term} lacks "
                          f"committed entry {index} (term {term})")

    # -- network --------------------------------------------------------------------------

    def _send(self, msg: Msg) -> None:
        f = self.faults
        if (msg.src, msg.dst) in self.cut or self.rng.random() < f.drop:
            return
        copies = 2 if self.rng.random() < f.duplicate else 1
        for _ in range(copies):
            self.sequence += 1
            at = self.now + 1 + self.rng.randint(0, f.delay_ticks_max)
            self.network.append((at, self.sequence, msg))

    def _deliver_due(self) -> None:
        due = [m for m in self.network if m[0] <= self.now]
        self.network = [m for m in self.network if m[0] > self.now]
        self.rng.shuffle(due)
        for _, _, msg in due:
            node = self.nodes[msg.dst]
            if node.raft is not None and (msg.src, msg.dst) not in self.cut:
                node.raft.step(msg)
                self._process_ready(node)

    # -- faults ---------------------------------------------------------------------------

    def _random_event(self) -> None:
        f, rng = self.faults, self.rng
        alive = [n for n in self.nodes.values() if n.raft is not None]
        dead = [n for n in self.nodes.values() if n.raft is None]
        if alive and rng.random() < f.crash:
            self._crash(rng.choice(alive))
        if dead and rng.random() < f.restart:
            self._start(rng.choice(dead))
        if rng.random() < f.partition:
            group = set(rng.sample(self.ids, rng.randint(1, len(self.ids) // 2)))
            one_way = rng.random() < 0.3
            self.cut = {(a, b) for a in self.ids for b in self.ids
                        if (a in group) != (b in group) and (not one_way or a in group)}
        if self.cut and rng.random() < f.heal:
            self.cut = set()
        alive = [n for n in self.nodes.values() if n.raft is not None]
        if alive and rng.random() < f.propose:
            self.propose(rng.choice(alive))
        alive = [n for n in self.nodes.values() if n.raft is not None]
        if alive and rng.random() < f.compact:
            self._compact(rng.choice(alive))

    def propose(self, node: SimNode) -> bool:
        if node.raft is None or node.raft.role != LEADER:
            return False
        self.proposal_counter += 1
        value = f"v{self.proposal_counter}"
        index, term = node.raft.propose(value)
        self.proposals.append((index, term, value))
        self._process_ready(node)
        return True

    def _compact(self, node: SimNode) -> None:
        raft = node.raft
        if raft.applied <= raft.snapshot.index:
            return
        index = raft.applied
        data = tuple(node.applied)
        raft.compact(index, data)
        node.disk.snapshot = raft.snapshot
        node.disk.entries = [e for e in node.disk.entries if e.index > index]

    # -- running --------------------------------------------------------------------------

    def step(self, faults: bool = True) -> None:
        self.now += 1
        if faults:
            self._random_event()
        for node in self.nodes.values():
            if node.raft is not None:
                node.raft.tick()
                self._process_ready(node)
        self._deliver_due()

    def check_log_matching(self) -> None:
        alive = [n for n in self.nodes.values() if n.raft is not None]
        for i, a in enumerate(alive):
            for b in alive[i + 1:]:
                ra, rb = a.raft, b.raft
                low = max(ra.snapshot.index, rb.snapshot.index) + 1
                high = min(ra.last_index, rb.last_index)
                match = [k for k in range(low, high + 1) if ra.term_at(k) == rb.term_at(k)]
                if not match:
                    continue
                for k in range(low, match[-1] + 1):
                    ea, eb = ra.entries_from(k, 1)[0], rb.entries_from(k, 1)[0]
                    if ea != eb:
                        self.fail(f"log matching: nodes {a.id} and {b.id} agree at "
                                  f"{match[-1]} but differ at {k}: {ea} vs {eb}")

    def leader(self) -> SimNode | None:
        leaders = [n for n in self.nodes.values() if n.raft and n.raft.role == LEADER]
        return max(leaders, key=lambda n: n.raft.term) if leaders else None

    def heal_and_converge(self, steps_max: int = 3000) -> None:
        """Stop faults, heal, restart everyone; a leader must emerge and every node must
        apply a final proposal. Then every earlier proposal must have resolved."""
        self.cut = set()
        self.faults = Faults(drop=0, duplicate=0, delay_ticks_max=self.faults.delay_ticks_max)
        for node in self.nodes.values():
            if node.raft is None:
                self._start(node)
        marker = None
        for _ in range(steps_max):
            self.step(faults=False)
            leader = self.leader()
            stale = marker is not None and self.committed.get(marker[0]) != marker[1:] \
                and leader is not None and leader.raft.term != marker[1]
            if (marker is None or stale) and leader is not None and self.propose(leader):
                marker = self.proposals[-1]  # a marker from a deposed leader may be lost
            if marker and all(n.applied and n.applied[-1][0] >= marker[0]
                              for n in self.nodes.values()):
                break
        else:
            self.fail(f"no convergence within {steps_max} steps after healing "
                      f"(leader: {self.leader() and self.leader().id})")
        if self.committed.get(marker[0]) != (marker[1], marker[2]):
            self.fail(f"the final proposal {marker} was not committed")
        last = marker[0]
        for index, term, value in self.proposals:
            if index <= last:
                # Resolved: committed if the entry applied at its index is ours, else failed.
                assert index in self.committed, f"seed {self.seed}: index {index} never applied"
            elif term >= marker[1]:
                # Past the marker only a deposed leader's entries may lie: every later
                # leader holds the marker, so those can never commit (they failed).
                self.fail(f"proposal {value} ({index}, term {term}) is unresolved")
        self.check_log_matching()

    def run(self, steps: int) -> None:
        for n in range(steps):
            self.step()
            if n % 100 == 0:
                self.check_log_matching()
        self.check_log_matching()
        self.heal_and_converge()


if __name__ == "__main__":
    seed, size = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sim = Simulation(seed, size)
    sim.run(int(sys.argv[3]) if len(sys.argv) > 3 else 3000)
    print(f"seed {seed}, {size} nodes: safe and converged; {len(sim.leaders)} terms with "
          f"a leader, {len(sim.committed)} entries committed, "
          f"{len(sim.proposals)} proposals")

"""Which nodes the launcher spawns next while a cluster starts — pure.

A node's start used to be ~0.3 s of CPU for its interpreter to import the package. A
hundred spawned at once on two cores shared them for ~15 s, and meanwhile the nodes
already up got a hundredth of a core each: their heartbeats came late, the controller
fenced them, they registered again, and 5 coordinators + 100 brokers took 82 s to come
up. Nodes are now forked from the fork server, imports done (launcher/forkserver.py),
but a node's first moments are still all CPU (its sockets, its CURVE handshakes, its
registration, its replicas). So at most `limits.starting_nodes_per_core_max` nodes per
core are starting at a time: the next is spawned as soon as one answers its first status
request, and each then registers while the next ones start.
"""

from __future__ import annotations

from mini_kafka.config import NodeSpec


class SpawnWindow:
    def __init__(self, specs: list[NodeSpec], size: int):
        assert size >= 1, "a window of no nodes would never start any"
        self._queued = list(specs)
        self._starting: set[str] = set()  # spawned, not yet answering
        self.size = size

    def take(self) -> list[NodeSpec]:
        """The nodes to spawn now, in the order given: as many as the window has room for."""
        taken = []
        while self._queued and len(self._starting) < self.size:
            spec = self._queued.pop(0)
            self._starting.add(spec.name)
            taken.append(spec)
        return taken

    def answered(self, name: str) -> None:
        """`name` answered a status request: it is past its imports."""
        self._starting.discard(name)

    @property
    def queued(self) -> int:
        return len(self._queued)

    @property
    def has_room(self) -> bool:
        """Whether take() would spawn a node now."""
        return bool(self._queued) and len(self._starting) < self.size

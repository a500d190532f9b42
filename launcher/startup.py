"""Which nodes the launcher spawns next while a cluster starts — pure.

A node's first ~0.3 s is its interpreter importing the package: all CPU. A hundred
spawned at once on two cores share them for ~15 s, and meanwhile the nodes already up
get a hundredth of a core each: their heartbeats come late, the controller fences them,
they register again, and 5 coordinators + 100 brokers took 82 s to come up. So at most
`limits.starting_nodes_per_core_max` nodes per core are importing at a time: the next
is spawned as soon as one answers its first status request (its imports are done), and
each then registers while the next ones import.
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

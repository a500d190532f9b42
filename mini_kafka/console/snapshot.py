"""One reading of the cluster, as the console's pure core takes it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mini_kafka.metadata import MetadataImage

# A node's state: launcher.NodeStatus's, with "paused" told apart from "unresponsive".
NODE_STATES = ("up", "starting", "unresponsive", "paused", "dead")


@dataclass
class NodeReading:
    name: str
    role: str
    state: str
    pid: int | None
    endpoint: str
    info: dict[str, Any] = field(default_factory=dict)  # the node's STATUS reply
    cpu_s: float | None = None  # user + system CPU time so far
    rss_bytes: int | None = None
    started_ms: int | None = None  # wall clock, from the process table


@dataclass
class GroupReading:
    group_id: str
    state: str
    protocol: str
    members: list[dict[str, Any]]  # member_id, client_id, host, partitions [(topic, p)]
    committed: dict[str, int]  # "topic/partition" -> committed offset


@dataclass
class Snapshot:
    at_ms: int  # wall clock
    running: bool  # a cluster was found (logs/cluster.json)
    nodes: list[NodeReading] = field(default_factory=list)
    metadata: MetadataImage | None = None  # the coordinators' committed image
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)  # "t/p" -> hw, leo
    groups: list[GroupReading] | None = None
    chaos: list[dict[str, Any]] = field(default_factory=list)  # new chaos-log events
    errors: dict[str, str] = field(default_factory=dict)  # what could not be read, and why

    def node(self, name: str) -> NodeReading | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def controller(self) -> tuple[str, int] | None:
        """(coordinator, term) of the Raft leader with the highest term, if any leads."""
        leaders = [(n.info.get("term", -1), n.name) for n in self.nodes
                   if n.role == "coordinator" and n.info.get("raft_role") == "leader"]
        if not leaders:
            return None
        term, name = max(leaders)
        return name, term

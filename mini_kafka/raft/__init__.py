"""A pure Raft core: no sockets, no clock (see core.py)."""

from mini_kafka.raft.core import LEADER, NotLeader, RaftConfig, RaftNode
from mini_kafka.raft.messages import Entry, Msg, Ready, Snapshot

__all__ = ["LEADER", "Entry", "Msg", "NotLeader", "RaftConfig", "RaftNode", "Ready", "Snapshot"]

"""Start, supervise, inspect and disturb mini-kafka clusters (`python -m launcher`)."""

from launcher.cluster import Cluster, ClusterError, NodeStatus

__all__ = ["Cluster", "ClusterError", "NodeStatus"]

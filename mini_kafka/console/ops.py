"""The chaos controls: the same operations as `mini-kafka chaos`, through launcher.Cluster
(which records each one in the chaos-event log, so the timeline shows it)."""

from __future__ import annotations

from typing import Any

from launcher import Cluster, ClusterError
from launcher.chaos import ChaosError
from mini_kafka.config import ConfigError
from mini_kafka.errors import KafkaError

# op -> what it does, as the page's buttons say it.
OPS = {
    "kill": "SIGKILL the node",
    "pause": "SIGSTOP the node",
    "resume": "SIGCONT a paused node",
    "restart": "stop the node if it runs, start it again, wait until it is ready",
    "cut-off": "cut every link between the node and the rest of the cluster",
    "heal": "clear every fault rule and resume paused nodes (no node needed)",
}
REFUSALS = (ClusterError, ChaosError, ConfigError, KafkaError)


class OpError(ValueError):
    """An operation asked wrongly (unknown op or node): the page's fault, a 400."""


def check(cluster: Cluster, op: str, node: str | None) -> None:
    if op not in OPS:
        raise OpError(f"unknown operation {op!r} (allowed: {', '.join(OPS)})")
    if op == "heal":
        return
    if not node:
        raise OpError(f"{op} needs a node, e.g. {{\"node\": \"broker-2\"}}")
    known = [s.name for s in cluster.config.nodes]
    if node not in known:
        raise OpError(f"unknown node {node!r} (this cluster has: {', '.join(known)})")


def apply(cluster: Cluster, op: str, node: str | None) -> dict[str, Any]:
    """Do it; raises OpError for a bad request, one of REFUSALS when the cluster says no
    (e.g. killing a node that is not running)."""
    check(cluster, op, node)
    if op == "heal":
        return {"op": op, "healed": cluster.heal()}
    if op == "kill":
        cluster.kill(node)
    elif op == "pause":
        cluster.pause(node)
    elif op == "resume":
        cluster.resume(node)
    elif op == "restart":
        cluster.restart(node)
        return {"op": op, "node": node, "pid": cluster.nodes[node].pid}
    elif op == "cut-off":
        cut = cluster.partition([node])
        return {"op": op, "node": node, "links_cut": len(cut)}
    return {"op": op, "node": node}

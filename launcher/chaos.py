"""Fault hooks on a running cluster: network cuts, delay and loss through each node's
fault rules (the transport's injection seam), and node selection by role.

Rules are read back from each node before they are changed, so faults compose: a delay
on broker-2 stays while a partition is added, until `heal`.
"""

from __future__ import annotations

import re
import signal
from typing import TYPE_CHECKING

from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey
from mini_kafka.transport import call

if TYPE_CHECKING:
    from launcher.cluster import Cluster

# A node under a loss rule drops our own requests too: ask again.
CALL_RETRIES = 5
LEADER_OF = re.compile(r"^leader-of\s+(?P<topic>\S+)/(?P<partition>\d+)$")


class ChaosError(RuntimeError):
    pass


def resolve(cluster: Cluster, spec: str) -> str:
    """A node name from `broker-2`, `coordinator-1`, `controller` or `leader-of T/P`."""
    spec = " ".join(spec.split())
    if spec == "controller":
        name = cluster.controller()
        if name is None:
            raise ChaosError("no controller right now (no coordinator leads)")
        return name
    match = LEADER_OF.match(spec)
    if match:
        p = cluster.metadata().partition(match["topic"], int(match["partition"]))
        if p is None:
            raise ChaosError(f"no partition {match['topic']}/{match['partition']}")
        if p["leader"] < 0:
            raise ChaosError(f"{match['topic']}/{match['partition']} has no leader now")
        return f"broker-{p['leader']}"
    try:
        cluster.config.node(spec)
    except ValueError as e:
        raise ChaosError(f"{e}; or use 'controller' or 'leader-of TOPIC/PARTITION'") from None
    return spec


def rules_of(cluster: Cluster, name: str) -> list[dict]:
    reply = call(cluster.config.node(name).endpoint, ApiKey.STATUS, sender="chaos",
                 timeout_ms=cluster.config.timeouts.status_timeout_ms, retries=CALL_RETRIES)
    return list(reply.body.get("faults", []))


def set_rules(cluster: Cluster, name: str, rules: list[dict]) -> None:
    reply = call(cluster.config.node(name).endpoint, ApiKey.SET_FAULTS, {"rules": rules},
                 sender="chaos", timeout_ms=cluster.config.timeouts.status_timeout_ms,
                 retries=CALL_RETRIES)
    if reply.error != "NONE":
        raise ChaosError(f"{name} refused the fault rules: {reply.body.get('message')}")


def add_rules(cluster: Cluster, name: str, rules: list[dict]) -> None:
    try:
        set_rules(cluster, name, rules_of(cluster, name) + rules)
    except KafkaError as e:
        raise ChaosError(f"cannot reach {name} to change its faults ({e}); is it running "
                         "and not paused?") from None


def partition(cluster: Cluster, groups: list[list[str]], one_way_from: list[str] | None = None
              ) -> list[tuple[str, str]]:
    """Cut the links between groups of nodes (the rest of the cluster is one more group
    when only one is given). With `one_way_from`, only traffic from those nodes to the
    other groups is cut. Returns the cut (from, to) links."""
    names = [s.name for s in cluster.config.nodes]
    groups = [[resolve(cluster, n) for n in g] for g in groups]
    listed = {n for g in groups for n in g}
    rest = [n for n in names if n not in listed]
    if len(groups) == 1 and rest:
        groups.append(rest)
    if len(groups) < 2:
        raise ChaosError("a partition needs at least two groups of nodes")
    group_of = {n: i for i, g in enumerate(groups) for n in g}
    senders = set(one_way_from or [])
    cut = [(a, b) for a in group_of for b in group_of
           if group_of[a] != group_of[b] and (not senders or a in senders)]
    # A dead node takes no rules (and a restarted one starts without any): cut the links
    # from the live side only, so the partition holds for whatever is running.
    live = {n for n, node in cluster.nodes.items() if node.alive()}
    for name in sorted(({a for a, _ in cut} | {b for _, b in cut}) & live):
        rules = [{"peer": b, "direction": "out", "drop_rate": 1.0} for a, b in cut if a == name]
        rules += [{"peer": a, "direction": "in", "drop_rate": 1.0} for a, b in cut if b == name]
        add_rules(cluster, name, rules)
    return cut


def delay(cluster: Cluster, name: str, ms: int, jitter_ms: int = 0) -> None:
    if ms < 0 or jitter_ms < 0:
        raise ChaosError("delay and jitter must not be negative")
    add_rules(cluster, name, [{"peer": "*", "direction": "out", "delay_ms": ms,
                               "jitter_ms": jitter_ms}])


def loss(cluster: Cluster, name: str, rate: float) -> None:
    if not 0 <= rate <= 1:
        raise ChaosError(f"loss rate {rate}: must be between 0 and 1")
    add_rules(cluster, name, [{"peer": "*", "direction": "both", "drop_rate": rate}])


def heal(cluster: Cluster) -> list[str]:
    """Clear every fault rule and resume paused nodes; returns the nodes it reached."""
    healed = []
    for spec in cluster.config.nodes:
        node = cluster.nodes.get(spec.name)
        if node is None or not node.alive():
            continue
        node.signal(signal.SIGCONT)  # a paused node must run to take the new rules
        try:
            set_rules(cluster, spec.name, [])
            healed.append(spec.name)
        except KafkaError:
            pass
    return healed

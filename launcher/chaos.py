"""Fault hooks on a running cluster: network cuts, delay and loss through each node's
fault rules (the transport's injection seam), and node selection by role.

Rules are read back from each node before they are changed, so faults compose: a delay
on broker-2 stays while a partition is added, until `heal`.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.control import call_node
from mini_kafka.broker.log.disk import INJECTED_FULL_MARKER
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey

if TYPE_CHECKING:
    from launcher.cluster import Cluster

# Fault rules never touch these requests (see mini_kafka.transport.faults.CONTROL_APIS);
# one more try covers a node just resumed from SIGSTOP or too busy to answer in time.
CALL_RETRIES = 1
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
    reply = call_node(cluster.config, name, ApiKey.STATUS,
                      timeout_ms=cluster.config.timeouts.status_timeout_ms, retries=CALL_RETRIES)
    return list(reply.body.get("faults", []))


def set_rules(cluster: Cluster, name: str, rules: list[dict], **disk: bool) -> None:
    reply = call_node(cluster.config, name, ApiKey.SET_FAULTS, {"rules": rules, **disk},
                      timeout_ms=cluster.config.timeouts.status_timeout_ms, retries=CALL_RETRIES)
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


def disk_full(cluster: Cluster, name: str, full: bool = True) -> None:
    """Make every write to the broker's partition logs fail with ENOSPC, as a full disk
    would (full=False: writes work again). The broker's own seam, not the real disk; like
    a real full disk it stays full across a restart of the broker (a marker in its
    directory) until cleared or healed."""
    if cluster.config.node(name).role != "broker":
        raise ChaosError(f"{name} holds no partition logs: disk faults are for brokers")
    marker = cluster.config.node_dir(name) / INJECTED_FULL_MARKER
    if full:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    else:
        marker.unlink(missing_ok=True)
    node = cluster.nodes.get(name)
    if node is None or not node.alive():
        return  # it finds the marker when it starts
    try:
        reply = call_node(cluster.config, name, ApiKey.SET_FAULTS, {"disk_full": full},
                          timeout_ms=cluster.config.timeouts.status_timeout_ms,
                          retries=CALL_RETRIES)
    except KafkaError as e:
        raise ChaosError(f"cannot reach {name} to change its disk ({e}); is it running "
                         "and not paused?") from None
    if reply.error != "NONE":
        raise ChaosError(f"{name} refused the disk fault: {reply.body.get('message')}")


@dataclass(frozen=True)
class HealReport:
    healed: list[str]             # running nodes whose rules are now clear, paused ones resumed
    not_running: list[str]        # nothing to heal: a node starts again without rules
    unreachable: dict[str, str]   # running but not answering: node -> what went wrong

    def problem(self) -> str:
        return "could not reach " + "; ".join(f"{name} ({why})" for name, why in
                                              self.unreachable.items())


def heal(cluster: Cluster) -> HealReport:
    """Clear every fault rule and disk fault and resume paused nodes; every running node
    is asked, and one that does not answer is reported, not skipped."""
    healed, not_running, unreachable = [], [], {}
    for spec in cluster.config.nodes:
        (cluster.config.node_dir(spec.name) / INJECTED_FULL_MARKER).unlink(missing_ok=True)
        node = cluster.nodes.get(spec.name)
        if node is None or not node.alive():
            not_running.append(spec.name)
            continue
        node.signal(signal.SIGCONT)  # a paused node must run to take the new rules
        try:
            set_rules(cluster, spec.name, [], disk_full=False)
            healed.append(spec.name)
        except (KafkaError, ChaosError) as e:
            unreachable[spec.name] = str(e)
    return HealReport(healed, not_running, unreachable)

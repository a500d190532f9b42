"""The JSON the page shows, made from one snapshot — pure. Each function is one view
(cluster, topics, groups, faults in force) and one endpoint of the server."""

from __future__ import annotations

from typing import Any

from mini_kafka.console.snapshot import Snapshot
from mini_kafka.metadata import NO_LEADER

INTERNAL_TOPIC_PREFIX = "__"


def cluster_view(snap: Snapshot, cpu: dict[str, float]) -> dict[str, Any]:
    image = snap.metadata
    registered = image.brokers if image is not None else {}
    controller = snap.controller
    nodes = []
    for n in snap.nodes:
        row = {"name": n.name, "role": n.role, "state": n.state, "pid": n.pid,
               "endpoint": n.endpoint, "uptime_ms": n.info.get("uptime_ms"),
               "started_ms": n.started_ms, "cpu_percent": cpu.get(n.name),
               "rss_bytes": n.rss_bytes, "faults": n.info.get("faults", [])}
        if n.role == "coordinator":
            row.update(raft_role=n.info.get("raft_role"), term=n.info.get("term"),
                       commit_index=n.info.get("commit_index"),
                       metadata_offset=n.info.get("metadata_offset"))
        else:
            b = registered.get(int(n.name.rsplit("-", 1)[1]))
            row.update(registered=b is not None, fenced=b["fenced"] if b else None,
                       broker_epoch=b["epoch"] if b else None,
                       metadata_offset=n.info.get("metadata_offset"))
        nodes.append(row)
    leader = snap.node(controller[0]) if controller else None
    return {
        "nodes": nodes,
        "controller": controller[0] if controller else None,
        "raft": {"term": leader.info.get("term"), "commit_index":
                 leader.info.get("commit_index")} if leader else None,
        "metadata_offset": image.offset if image is not None else None,
        "fenced_brokers": sorted(b for b, info in registered.items() if info["fenced"]),
    }


def topics_view(snap: Snapshot, min_insync_default: int) -> list[dict[str, Any]]:
    image = snap.metadata
    if image is None:
        return []
    sizes: dict[str, dict[int, int]] = {}
    for n in snap.nodes:
        if n.role == "broker" and n.state != "dead":
            bid = int(n.name.rsplit("-", 1)[1])
            for key, size in (n.info.get("log_bytes") or {}).items():
                sizes.setdefault(key, {})[bid] = size
    out = []
    for name in sorted(image.topics, key=lambda t: (t.startswith(INTERNAL_TOPIC_PREFIX), t)):
        topic = image.topics[name]
        min_isr = int(topic.get("configs", {}).get("min.insync.replicas", min_insync_default))
        parts = []
        for p in image.topic_partitions(name):
            key = f"{name}/{p['partition']}"
            offsets = snap.offsets.get(key, {})
            replica_bytes = sizes.get(key, {})
            offline = p["leader"] == NO_LEADER
            parts.append({
                "partition": p["partition"], "leader": p["leader"],
                "leader_epoch": p["leader_epoch"], "replicas": p["replicas"], "isr": p["isr"],
                "high_watermark": offsets.get("high_watermark"),
                "log_end_offset": offsets.get("log_end_offset"),
                "size_bytes": replica_bytes.get(p["leader"]),
                "replica_bytes": {str(b): s for b, s in sorted(replica_bytes.items())},
                "offline": offline,
                "under_replicated": len(p["isr"]) < len(p["replicas"]),
                "under_min_isr": len(p["isr"]) < min_isr,
            })
        out.append({"name": name, "internal": name.startswith(INTERNAL_TOPIC_PREFIX),
                    "replication_factor": topic.get("replication_factor"),
                    "min_insync_replicas": min_isr, "configs": topic.get("configs", {}),
                    "partitions": parts,
                    "under_replicated": sum(p["under_replicated"] for p in parts),
                    "offline": sum(p["offline"] for p in parts)})
    return out


def group_lags(snap: Snapshot) -> dict[str, dict[str, int | None]]:
    """group -> "topic/partition" -> lag (high watermark - committed), None if unknown."""
    out = {}
    for g in snap.groups or []:
        lags = {}
        for key, committed in g.committed.items():
            hw = snap.offsets.get(key, {}).get("high_watermark")
            lags[key] = max(0, hw - committed) if hw is not None else None
        out[g.group_id] = lags
    return out


def groups_view(snap: Snapshot, history: dict[str, Any]) -> list[dict[str, Any]]:
    lags = group_lags(snap)
    out = []
    for g in snap.groups or []:
        owner = {f"{t}/{p}": m for m in g.members for t, p in m["partitions"]}
        keys = sorted(set(g.committed) | set(owner),
                      key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])))
        partitions = []
        for key in keys:
            topic, p = key.rsplit("/", 1)
            m = owner.get(key)
            partitions.append({
                "topic": topic, "partition": int(p), "committed": g.committed.get(key),
                "high_watermark": snap.offsets.get(key, {}).get("high_watermark"),
                "lag": lags[g.group_id].get(key), "member": m["member_id"] if m else None,
                "client_id": m["client_id"] if m else None,
                "lag_history": history.get(g.group_id, {}).get("partitions", {}).get(key, [])})
        known = [lag for lag in lags[g.group_id].values() if lag is not None]
        out.append({"group_id": g.group_id, "state": g.state, "protocol": g.protocol,
                    "members": [{"member_id": m["member_id"], "client_id": m["client_id"],
                                 "host": m["host"],
                                 "partitions": [f"{t}/{p}" for t, p in m["partitions"]]}
                                for m in g.members],
                    "partitions": partitions, "total_lag": sum(known) if known else None,
                    "lag_history": history.get(g.group_id, {}).get("total", [])})
    return out


def faults_view(snap: Snapshot) -> list[dict[str, Any]]:
    """The faults in force: dead and paused nodes, and every node's fault rules."""
    out = []
    for n in snap.nodes:
        if n.state in ("dead", "paused"):
            out.append({"node": n.name, "kind": n.state,
                        "text": f"{n.name} is {n.state}"})
        for rule in n.info.get("faults") or []:
            out.append({"node": n.name, "kind": "rule", "rule": rule,
                        "text": f"{n.name}: {describe_rule(rule)}"})
    return out


def describe_rule(rule: dict[str, Any]) -> str:
    peer = "everyone" if rule.get("peer", "*") == "*" else rule["peer"]
    direction = {"out": "to", "in": "from", "both": "to and from"}.get(
        rule.get("direction", "both"), rule.get("direction"))
    parts = []
    if rule.get("drop_rate"):
        rate = rule["drop_rate"]
        parts.append("cut off" if rate >= 1 else f"drops {rate:.0%} of traffic")
    if rule.get("delay_ms"):
        jitter = f" (+0..{rule['jitter_ms']} ms)" if rule.get("jitter_ms") else ""
        parts.append(f"delays {rule['delay_ms']} ms{jitter}")
    return f"{' and '.join(parts) or 'rule'} {direction} {peer}"

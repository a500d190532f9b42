"""Metadata and DescribeCluster: brokers with their Kafka listeners, topics, partitions."""

from __future__ import annotations

import uuid

from mini_kafka.kafka_protocol.api import Context, adapter
from mini_kafka.protocol import ApiKey

METADATA, DESCRIBE_CLUSTER = 3, 60
NO_AUTHORIZED_OPERATIONS = -(2**31)  # Kafka's "not requested"
NO_LEADER = -1
_FALLBACK_ID_NAMESPACE = uuid.UUID("6d696e69-6b61-666b-612d-66616c6c6261")


def _brokers(ctx: Context) -> list[dict]:
    # Metadata names the id node_id, DescribeCluster broker_id.
    return [{"node_id": broker_id, "broker_id": broker_id, "host": host, "port": port,
             "rack": None}
            for broker_id, (host, port) in sorted(ctx.listeners().items())]


def _topic_id(topic: dict, cluster_id: str) -> uuid.UUID:
    given = topic.get("topic_id")
    if given:
        return uuid.UUID(given)
    # Topics made before ids were kept: derived, so stable across brokers and restarts.
    return uuid.uuid5(_FALLBACK_ID_NAMESPACE, f"{cluster_id}/{topic['name']}")


@adapter(METADATA, 0, 12)
async def metadata(ctx: Context, request):
    wanted = request.topics
    if wanted is not None:
        wanted = [t.name for t in wanted if t.name is not None]
        if ctx.version == 0 and not wanted:
            wanted = None  # v0: an empty list means every topic
    # v0-v3 have no flag: those clients relied on the broker's auto.create.topics.enable.
    auto_create = getattr(request, "allow_auto_topic_creation", True)
    reply = await ctx.call(ApiKey.METADATA, {"topics": wanted, "allow_auto_create": auto_create})
    live = ctx.listeners()
    topics = []
    for t in reply.body.get("topics", []) if reply.error == "NONE" else []:
        if t["error"] != "NONE":
            topics.append({"error_code": t["error"], "name": t["name"],
                           "topic_id": None, "is_internal": False, "partitions": [],
                           "topic_authorized_operations": NO_AUTHORIZED_OPERATIONS})
            continue
        partitions = [{
            "error_code": "LEADER_NOT_AVAILABLE" if p["leader"] == NO_LEADER else "NONE",
            "partition_index": p["partition"], "leader_id": p["leader"],
            "leader_epoch": p["leader_epoch"], "replica_nodes": p["replicas"],
            "isr_nodes": p["isr"],
            "offline_replicas": [r for r in p["replicas"] if r not in live]}
            for p in t["partitions"]]
        topics.append({"error_code": "NONE", "name": t["name"],
                       "topic_id": _topic_id(t, ctx.cluster_id),
                       "is_internal": t["name"].startswith("__"), "partitions": partitions,
                       "topic_authorized_operations": NO_AUTHORIZED_OPERATIONS})
    return ctx.respond({"throttle_time_ms": 0, "brokers": _brokers(ctx),
                        "cluster_id": ctx.cluster_id, "controller_id": ctx.controller_id(),
                        "topics": topics,
                        "cluster_authorized_operations": NO_AUTHORIZED_OPERATIONS})


@adapter(DESCRIBE_CLUSTER, 0, 1)
async def describe_cluster(ctx: Context, request):
    return ctx.respond({"throttle_time_ms": 0, "error_code": "NONE", "error_message": None,
                        "endpoint_type": 1, "cluster_id": ctx.cluster_id,
                        "controller_id": ctx.controller_id(), "brokers": _brokers(ctx),
                        "cluster_authorized_operations": NO_AUTHORIZED_OPERATIONS})

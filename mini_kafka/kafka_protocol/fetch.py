"""Fetch and ListOffsets, for consumers only.

Fetch is sessionless (KIP-227 is optional for brokers): every response is full and lists
every partition asked for — kafka-python drops a partition a full response leaves out. A
client asking to open a session gets session id 0, which means "none". A fetch that
names a replica id is the cluster's own replication, which never comes through this
door: it is refused.
"""

from __future__ import annotations

from mini_kafka.kafka_protocol.api import Context, adapter
from mini_kafka.kafka_protocol.entities import ms
from mini_kafka.protocol import ApiKey

FETCH, LIST_OFFSETS = 1, 2
NO_SESSION = 0
CONSUMER_REPLICA_ID = -1


@adapter(FETCH, 4, 12)
async def fetch(ctx: Context, request):
    if request.replica_id != CONSUMER_REPLICA_ID:
        return _top_level_error(ctx, "CLUSTER_AUTHORIZATION_FAILED")
    if getattr(request, "session_id", NO_SESSION) != NO_SESSION:
        return _top_level_error(ctx, "FETCH_SESSION_ID_NOT_FOUND")
    wanted = [{"topic": t.topic, "partition": p.partition, "fetch_offset": p.fetch_offset,
               "partition_max_bytes": p.partition_max_bytes,
               "current_leader_epoch": getattr(p, "current_leader_epoch", -1)}
              for t in request.topics for p in t.partitions]
    reply = await ctx.call(ApiKey.FETCH, {
        "replica_id": CONSUMER_REPLICA_ID, "max_wait_ms": ms(request.max_wait),
        "min_bytes": request.min_bytes, "max_bytes": request.max_bytes,
        "isolation_level": request.isolation_level, "partitions": wanted})
    results = reply.body.get("partitions") if reply.error == "NONE" else None
    by_topic: dict[str, list] = {}
    for i, w in enumerate(wanted):
        r = results[i] if results else {"error": reply.error}
        index = r.get("records")
        hw = r.get("high_watermark", -1)
        by_topic.setdefault(w["topic"], []).append({
            "partition_index": w["partition"], "error_code": r["error"],
            "high_watermark": hw, "last_stable_offset": r.get("last_stable_offset", hw),
            "log_start_offset": r.get("log_start_offset", -1),
            "aborted_transactions": [{"producer_id": pid, "first_offset": first}
                                     for pid, first in r.get("aborted_transactions") or []],
            "preferred_read_replica": -1,
            "records": reply.payloads[index] if index is not None else b""})
    return ctx.respond({"throttle_time_ms": 0, "error_code": "NONE", "session_id": NO_SESSION,
                        "responses": [{"topic": t, "partitions": parts}
                                      for t, parts in by_topic.items()]})


def _top_level_error(ctx: Context, error: str):
    return ctx.respond({"throttle_time_ms": 0, "error_code": error, "session_id": NO_SESSION,
                        "responses": []})


@adapter(LIST_OFFSETS, 1, 7)
async def list_offsets(ctx: Context, request):
    wanted = [{"topic": t.name, "partition": p.partition_index, "timestamp": p.timestamp,
               "current_leader_epoch": getattr(p, "current_leader_epoch", -1)}
              for t in request.topics for p in t.partitions]
    reply = await ctx.call(ApiKey.LIST_OFFSETS, {
        "partitions": wanted, "isolation_level": getattr(request, "isolation_level", 0)})
    results = reply.body.get("partitions") if reply.error == "NONE" else None
    by_topic: dict[str, list] = {}
    for i, w in enumerate(wanted):
        r = results[i] if results else {"error": reply.error}
        by_topic.setdefault(w["topic"], []).append({
            "partition_index": w["partition"], "error_code": r["error"],
            "timestamp": r.get("timestamp", -1), "offset": r.get("offset", -1),
            "leader_epoch": r.get("leader_epoch", -1)})
    return ctx.respond({"throttle_time_ms": 0, "topics": [
        {"name": t, "partitions": parts} for t, parts in by_topic.items()]})

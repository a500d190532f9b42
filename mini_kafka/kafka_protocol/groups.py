"""Consumer groups: FindCoordinator, JoinGroup / SyncGroup / Heartbeat / LeaveGroup,
OffsetCommit / OffsetFetch, DescribeGroups / ListGroups / DeleteGroups.

Members' protocol metadata and assignments are opaque bytes to the coordinator (Kafka's
ConsumerProtocol, which mini-kafka's own client speaks too, so both kinds of member can
share a group); the broker's handlers carry opaque bytes as base64 text, as everything in
their JSON-shaped bodies must be.
"""

from __future__ import annotations

import base64

from mini_kafka.kafka_protocol.api import Context, adapter
from mini_kafka.kafka_protocol.entities import ms
from mini_kafka.protocol import ApiKey

FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 10, 11, 12, 13, 14
OFFSET_COMMIT, OFFSET_FETCH, DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS = 8, 9, 15, 16, 42
NO_NODE = -1


def to_text(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def to_bytes(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


# -- finding the coordinator ------------------------------------------------------------------


@adapter(FIND_COORDINATOR, 0, 4)
async def find_coordinator(ctx: Context, request):
    key_type = getattr(request, "key_type", 0)
    keys = list(request.coordinator_keys) if ctx.version >= 4 else [request.key]
    found = [await _coordinator(ctx, key, key_type) for key in keys]
    if ctx.version >= 4:
        return ctx.respond({"throttle_time_ms": 0, "coordinators": found})
    return ctx.respond({"throttle_time_ms": 0, **found[0]})


async def _coordinator(ctx: Context, key: str, key_type: int) -> dict:
    reply = await ctx.call(ApiKey.FIND_COORDINATOR, {"key": key, "key_type": key_type})
    node = reply.body.get("node_id", NO_NODE) if reply.error == "NONE" else NO_NODE
    listener = ctx.listeners().get(node)
    error = reply.error
    if error == "NONE" and listener is None:
        error = "COORDINATOR_NOT_AVAILABLE"  # registered, but not (yet) a live broker
    host, port = listener if error == "NONE" else ("", -1)
    return {"key": key, "node_id": node if error == "NONE" else NO_NODE, "host": host,
            "port": port, "error_code": error,
            "error_message": reply.body.get("message") if error != "NONE" else None}


# -- membership ---------------------------------------------------------------------------------


@adapter(JOIN_GROUP, 0, 7)
async def join_group(ctx: Context, request):
    session_ms = ms(request.session_timeout)
    rebalance = getattr(request, "rebalance_timeout", None)
    reply = await ctx.call(ApiKey.JOIN_GROUP, {
        "group_id": request.group_id, "member_id": request.member_id,
        "group_instance_id": getattr(request, "group_instance_id", None),
        "session_timeout_ms": session_ms,
        "rebalance_timeout_ms": ms(rebalance) if rebalance is not None else session_ms,
        "protocol_type": request.protocol_type, "host": f"/{ctx.client_host}",
        "protocols": [{"name": p.name, "metadata": to_text(p.metadata)}
                      for p in request.protocols]})
    b = reply.body
    return ctx.respond({
        "throttle_time_ms": 0, "error_code": reply.error,
        "generation_id": b.get("generation", -1), "protocol_type": b.get("protocol_type"),
        "protocol_name": b.get("protocol"), "leader": b.get("leader") or "",
        "member_id": b.get("member_id") or request.member_id,
        "members": [{"member_id": m["member_id"], "group_instance_id": m.get("instance_id"),
                     "metadata": to_bytes(m["metadata"])} for m in b.get("members", [])]})


@adapter(SYNC_GROUP, 0, 5)
async def sync_group(ctx: Context, request):
    assignments = {a.member_id: to_text(a.assignment) for a in request.assignments}
    reply = await ctx.call(ApiKey.SYNC_GROUP, {
        "group_id": request.group_id, "member_id": request.member_id,
        "generation": request.generation_id, "assignments": assignments or None})
    b = reply.body
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error,
                        "protocol_type": b.get("protocol_type"),
                        "protocol_name": b.get("protocol"),
                        "assignment": to_bytes(b.get("assignment"))})


@adapter(HEARTBEAT, 0, 4)
async def heartbeat(ctx: Context, request):
    reply = await ctx.call(ApiKey.HEARTBEAT, {"group_id": request.group_id,
                                              "member_id": request.member_id,
                                              "generation": request.generation_id})
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error})


@adapter(LEAVE_GROUP, 0, 4)
async def leave_group(ctx: Context, request):
    members = [(m.member_id, m.group_instance_id) for m in request.members] \
        if ctx.version >= 3 else [(request.member_id, None)]
    results = []
    for member_id, instance_id in members:
        reply = await ctx.call(ApiKey.LEAVE_GROUP, {"group_id": request.group_id,
                                                    "member_id": member_id,
                                                    "group_instance_id": instance_id})
        results.append({"member_id": member_id, "group_instance_id": instance_id,
                        "error_code": reply.error})
    # v3+: the request succeeds as a whole and each member has its own error (KIP-345);
    # a coordinator-level error is the request's.
    top = results[0]["error_code"] if ctx.version < 3 or _coordinator_error(results) \
        else "NONE"
    return ctx.respond({"throttle_time_ms": 0, "error_code": top, "members": results})


def _coordinator_error(results: list[dict]) -> bool:
    return bool(results) and results[0]["error_code"] in (
        "NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS")


# -- offsets ------------------------------------------------------------------------------------


@adapter(OFFSET_COMMIT, 2, 7)
async def offset_commit(ctx: Context, request):
    offsets = [{"topic": t.name, "partition": p.partition_index,
                "offset": p.committed_offset, "metadata": p.committed_metadata or ""}
               for t in request.topics for p in t.partitions]
    generation = getattr(request, "generation_id_or_member_epoch", None)
    if generation is None:
        generation = getattr(request, "generation_id", -1)
    reply = await ctx.call(ApiKey.OFFSET_COMMIT, {
        "group_id": request.group_id, "member_id": request.member_id,
        "generation": generation, "offsets": offsets})
    found = {} if reply.error != "NONE" else {
        (r["topic"], r["partition"]): r["error"] for r in reply.body.get("partitions", [])}
    return ctx.respond({"throttle_time_ms": 0, "topics": [
        {"name": t.name, "partitions": [
            {"partition_index": p.partition_index,
             "error_code": found.get((t.name, p.partition_index), reply.error)}
            for p in t.partitions]} for t in request.topics]})


@adapter(OFFSET_FETCH, 1, 7)
async def offset_fetch(ctx: Context, request):
    wanted = None if request.topics is None else [
        {"topic": t.name, "partition": p} for t in request.topics
        for p in t.partition_indexes]
    reply = await ctx.call(ApiKey.OFFSET_FETCH, {"group_id": request.group_id,
                                                 "partitions": wanted})
    # UNSTABLE_OFFSET_COMMIT is for readers that asked for stable offsets (v7, KIP-447);
    # others get the last committed offset, as Kafka gives them.
    stable = getattr(request, "require_stable", False)
    by_topic: dict[str, list] = {}
    for r in reply.body.get("partitions", []) if reply.error == "NONE" else []:
        error = r["error"]
        if error == "UNSTABLE_OFFSET_COMMIT" and not stable:
            error = "NONE"
        by_topic.setdefault(r["topic"], []).append({
            "partition_index": r["partition"], "committed_offset": r["offset"],
            "committed_leader_epoch": -1, "metadata": r.get("metadata") or "",
            "error_code": error})
    if reply.error != "NONE" and wanted is not None:  # v1 has no top-level error
        for w in wanted:
            by_topic.setdefault(w["topic"], []).append({
                "partition_index": w["partition"], "committed_offset": -1,
                "committed_leader_epoch": -1, "metadata": "", "error_code": reply.error})
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error, "topics": [
        {"name": t, "partitions": parts} for t, parts in by_topic.items()]})


# -- administration -----------------------------------------------------------------------------


@adapter(DESCRIBE_GROUPS, 0, 5)
async def describe_groups(ctx: Context, request):
    reply = await ctx.call(ApiKey.DESCRIBE_GROUPS, {"groups": list(request.groups)})
    found = {g["group_id"]: g for g in reply.body.get("groups", [])}
    groups = []
    for group_id in request.groups:
        g = found.get(group_id, {"error": reply.error})
        groups.append({
            "error_code": g["error"], "group_id": group_id,
            "group_state": g.get("state", ""), "protocol_type": g.get("protocol_type") or "",
            "protocol_data": g.get("protocol") or "",
            "members": [{"member_id": m["member_id"], "group_instance_id": m["instance_id"],
                         "client_id": m["client_id"], "client_host": m["host"],
                         "member_metadata": to_bytes(m.get("metadata")),
                         "member_assignment": to_bytes(m.get("assignment"))}
                        for m in g.get("members", [])],
            "authorized_operations": -(2**31)})
    return ctx.respond({"throttle_time_ms": 0, "groups": groups})


@adapter(LIST_GROUPS, 0, 4)
async def list_groups(ctx: Context, request):
    reply = await ctx.call(ApiKey.LIST_GROUPS, {})
    states = {s.lower() for s in getattr(request, "states_filter", ())}
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error, "groups": [
        {"group_id": g["group_id"], "protocol_type": g.get("protocol_type") or "",
         "group_state": g["state"]} for g in reply.body.get("groups", [])
        if not states or g["state"].lower() in states]})


@adapter(DELETE_GROUPS, 0, 2)
async def delete_groups(ctx: Context, request):
    results = []
    for group_id in request.groups_names:
        reply = await ctx.call(ApiKey.DELETE_GROUPS, {"group_id": group_id})
        results.append({"group_id": group_id, "error_code": reply.error})
    return ctx.respond({"throttle_time_ms": 0, "results": results})

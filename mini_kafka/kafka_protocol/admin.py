"""Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
ElectLeaders (preferred elections).

Every broker takes these (it forwards to the coordinators' controller), so the
controller id that Metadata names is simply a live broker."""

from __future__ import annotations

from mini_kafka.kafka_protocol.api import Context, adapter
from mini_kafka.kafka_protocol.metadata import _topic_id
from mini_kafka.protocol import ApiKey

CREATE_TOPICS, DELETE_TOPICS, DESCRIBE_CONFIGS, CREATE_PARTITIONS = 19, 20, 32, 37
ELECT_LEADERS = 43
PREFERRED_ELECTION = 0  # ElectLeaders' election_type; 1 (unclean) is not offered
TOPIC_RESOURCE, BROKER_RESOURCE = 2, 4
# Kafka's ConfigSource: where a value comes from.
SOURCE_TOPIC, SOURCE_STATIC_BROKER, SOURCE_DEFAULT = 1, 4, 5
UNSUPPORTED_ASSIGNMENT = "manual replica assignment is not supported; give a partition " \
                         "count and replication factor"


@adapter(CREATE_TOPICS, 2, 7)
async def create_topics(ctx: Context, request):
    asked = list(request.topics)
    manual = {t.name for t in asked if t.assignments}
    entries = [{"name": t.name, "num_partitions": t.num_partitions,
                "replication_factor": t.replication_factor,
                "configs": {c.name: c.value for c in t.configs}}
               for t in asked if t.name not in manual]
    reply = await ctx.call(ApiKey.CREATE_TOPICS, {
        "topics": entries, "validate_only": getattr(request, "validate_only", False)})
    found = {r["name"]: r for r in reply.body.get("topics", [])}
    image = ctx.image()
    out = []
    for t in asked:
        if t.name in manual:
            r = {"error": "INVALID_REPLICA_ASSIGNMENT", "message": UNSUPPORTED_ASSIGNMENT}
        else:
            r = found.get(t.name, {"error": reply.error, "message": reply.body.get("message")})
        made = image.topics.get(t.name) if r["error"] == "NONE" else None
        out.append({"name": t.name, "error_code": r["error"],
                    "error_message": r.get("message") if r["error"] != "NONE" else None,
                    "topic_id": _topic_id(made, ctx.cluster_id) if made else None,
                    "num_partitions": made["partitions"] if made else -1,
                    "replication_factor": made["replication_factor"] if made else -1,
                    "topic_config_error_code": 0, "configs": None})
    return ctx.respond({"throttle_time_ms": 0, "topics": out})


@adapter(DELETE_TOPICS, 1, 6)
async def delete_topics(ctx: Context, request):
    image = ctx.image()
    if ctx.version >= 6:
        by_id = {_topic_id(t, ctx.cluster_id): name for name, t in image.topics.items()}
        asked = [(t.name or by_id.get(t.topic_id), t.topic_id) for t in request.topics]
    else:
        asked = [(name, None) for name in request.topic_names]
    names = [name for name, _ in asked if name is not None]
    reply = await ctx.call(ApiKey.DELETE_TOPICS, {"topics": names})
    found = {r["name"]: r for r in reply.body.get("topics", [])}
    out = []
    for name, topic_id in asked:
        if name is None:
            r = {"error": "UNKNOWN_TOPIC_ID", "message": f"no topic has id {topic_id}"}
        else:
            r = found.get(name, {"error": reply.error, "message": reply.body.get("message")})
        out.append({"name": name, "topic_id": topic_id,
                    "error_code": r["error"],
                    "error_message": r.get("message") if r["error"] != "NONE" else None})
    return ctx.respond({"throttle_time_ms": 0, "responses": out})


@adapter(CREATE_PARTITIONS, 0, 3)
async def create_partitions(ctx: Context, request):
    asked = list(request.topics)
    manual = {t.name for t in asked if t.assignments}
    reply = await ctx.call(ApiKey.CREATE_PARTITIONS, {
        "topics": [{"name": t.name, "count": t.count} for t in asked
                   if t.name not in manual and not request.validate_only]})
    found = {r["name"]: r for r in reply.body.get("topics", [])}
    out = []
    for t in asked:
        if t.name in manual:
            r = {"error": "INVALID_REPLICA_ASSIGNMENT", "message": UNSUPPORTED_ASSIGNMENT}
        elif request.validate_only:
            r = _validate_partitions(ctx.image(), t.name, t.count)
        else:
            r = found.get(t.name, {"error": reply.error, "message": reply.body.get("message")})
        out.append({"name": t.name, "error_code": r["error"],
                    "error_message": r.get("message") if r["error"] != "NONE" else None})
    return ctx.respond({"throttle_time_ms": 0, "results": out})


def _validate_partitions(image, name: str, count: int) -> dict:
    topic = image.topics.get(name)
    if topic is None:
        return {"error": "UNKNOWN_TOPIC_OR_PARTITION", "message": f"no topic {name!r}"}
    if count <= topic["partitions"]:
        return {"error": "INVALID_PARTITIONS",
                "message": f"{name} has {topic['partitions']} partition(s)"}
    return {"error": "NONE"}


@adapter(DESCRIBE_CONFIGS, 1, 4)
async def describe_configs(ctx: Context, request):
    kinds = {TOPIC_RESOURCE: "topic", BROKER_RESOURCE: "broker"}
    asked = list(request.resources)
    reply = await ctx.call(ApiKey.DESCRIBE_CONFIGS, {"resources": [
        {"type": kinds.get(r.resource_type, str(r.resource_type)), "name": r.resource_name,
         "keys": None if r.configuration_keys is None else list(r.configuration_keys)}
        for r in asked]})
    results = reply.body.get("resources") or [{"error": reply.error}] * len(asked)
    out = []
    for r, found in zip(asked, results, strict=True):
        source = SOURCE_STATIC_BROKER if r.resource_type == BROKER_RESOURCE else SOURCE_DEFAULT
        out.append({
            "error_code": found["error"], "error_message": found.get("message"),
            "resource_type": r.resource_type, "resource_name": r.resource_name,
            "configs": [{"name": c["name"], "value": c["value"], "read_only": False,
                         "config_source": SOURCE_TOPIC if c["source"] == "topic" else source,
                         "is_sensitive": False, "synonyms": [], "config_type": 0,
                         "documentation": None}
                        for c in found.get("configs", [])]})
    return ctx.respond({"throttle_time_ms": 0, "results": out})


@adapter(ELECT_LEADERS, 0, 2)
async def elect_leaders(ctx: Context, request):
    """A preferred election, in one metadata change. Asked for named partitions, each
    gets its result (unknown ones UNKNOWN_TOPIC_OR_PARTITION); asked for all, only
    those that needed an election are listed, as in Kafka."""
    def respond(error: str, results: list[tuple[str, int, str, str | None]]):
        by_topic: dict[str, list] = {}
        for topic, partition, code, message in results:
            by_topic.setdefault(topic, []).append(
                {"partition_id": partition, "error_code": code, "error_message": message})
        return ctx.respond({"throttle_time_ms": 0, "error_code": error,
                            "replica_election_results": [
                                {"topic": t, "partition_result": r}
                                for t, r in sorted(by_topic.items())]})

    if getattr(request, "election_type", PREFERRED_ELECTION) != PREFERRED_ELECTION:
        return respond("INVALID_REQUEST", [])
    image = ctx.image()
    asked = None if request.topic_partitions is None else \
        [(t.topic, p) for t in request.topic_partitions for p in t.partitions]
    unknown = [(t, p) for t, p in asked or [] if image.partition(t, p) is None]
    results = [(t, p, "UNKNOWN_TOPIC_OR_PARTITION", f"no partition {t}/{p}")
               for t, p in unknown]
    if asked is not None and len(unknown) == len(asked):
        return respond("NONE", results)
    body: dict = {"topics": None}
    if asked is not None:
        body["topics"] = {}
        for t, p in asked:
            if (t, p) not in unknown:
                body["topics"].setdefault(t, []).append(p)
    reply = await ctx.call(ApiKey.ELECT_LEADERS, body)
    if reply.error != "NONE" and body["topics"] is None:
        return respond(reply.error, [])
    if reply.error != "NONE":  # the whole request refused (a topic deleted meanwhile)
        message = reply.body.get("message")
        return respond("NONE", results + [(t, p, reply.error, message)
                                          for t, ps in (body["topics"] or {}).items()
                                          for p in ps])
    for r in reply.body["partitions"]:
        message = None if r["error"] in ("NONE", "ELECTION_NOT_NEEDED") else \
            f"preferred replica {r['preferred']} is out of the ISR or down"
        results.append((r["topic"], r["partition"], r["error"], message))
    return respond("NONE", results)

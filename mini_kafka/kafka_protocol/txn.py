"""Idempotent and transactional producers: InitProducerId, AddPartitionsToTxn,
AddOffsetsToTxn, EndTxn and TxnOffsetCommit (KIP-98), over the broker's transaction and
group coordinators."""

from __future__ import annotations

from mini_kafka.kafka_protocol.api import Context, adapter
from mini_kafka.kafka_protocol.entities import ms
from mini_kafka.protocol import ApiKey

INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN = 22, 24, 25
END_TXN, TXN_OFFSET_COMMIT = 26, 28


@adapter(INIT_PRODUCER_ID, 0, 4)
async def init_producer_id(ctx: Context, request):
    body = {"transactional_id": request.transactional_id,
            "transaction_timeout_ms": ms(request.transaction_timeout)}
    reply = await ctx.call(ApiKey.INIT_PRODUCER_ID, body)
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error,
                        "producer_id": reply.body.get("producer_id", -1),
                        "producer_epoch": reply.body.get("producer_epoch", -1)})


def _ids(request) -> dict:
    """The producer's ids; AddPartitionsToTxn v0-3 name them `v3_and_below_*`."""
    def field(name):
        return getattr(request, name) if hasattr(request, name) else \
            getattr(request, f"v3_and_below_{name}")
    return {name: field(name) for name in ("transactional_id", "producer_id",
                                           "producer_epoch")}


@adapter(ADD_PARTITIONS_TO_TXN, 0, 3)
async def add_partitions_to_txn(ctx: Context, request):
    topics = request.v3_and_below_topics
    partitions = [[t.name, p] for t in topics for p in t.partitions]
    reply = await ctx.call(ApiKey.ADD_PARTITIONS_TO_TXN, {**_ids(request),
                                                          "partitions": partitions})
    return ctx.respond({"throttle_time_ms": 0, "results_by_topic_v3_and_below": [
        {"name": t.name, "results_by_partition": [
            {"partition_index": p, "partition_error_code": reply.error}
            for p in t.partitions]} for t in topics]})


@adapter(ADD_OFFSETS_TO_TXN, 0, 3)
async def add_offsets_to_txn(ctx: Context, request):
    reply = await ctx.call(ApiKey.ADD_OFFSETS_TO_TXN, {**_ids(request),
                                                       "group_id": request.group_id})
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error})


@adapter(END_TXN, 0, 3)
async def end_txn(ctx: Context, request):
    reply = await ctx.call(ApiKey.END_TXN, {**_ids(request), "commit": request.committed})
    return ctx.respond({"throttle_time_ms": 0, "error_code": reply.error})


@adapter(TXN_OFFSET_COMMIT, 0, 3)
async def txn_offset_commit(ctx: Context, request):
    offsets = [{"topic": t.name, "partition": p.partition_index,
                "offset": p.committed_offset, "metadata": p.committed_metadata or ""}
               for t in request.topics for p in t.partitions]
    reply = await ctx.call(ApiKey.TXN_OFFSET_COMMIT, {
        **_ids(request), "group_id": request.group_id,
        "member_id": getattr(request, "member_id", ""),
        "generation": getattr(request, "generation_id", -1), "offsets": offsets})
    return ctx.respond({"throttle_time_ms": 0, "topics": _per_partition(request.topics, reply)})


def _per_partition(topics, reply) -> list[dict]:
    """Per-partition errors from a reply listing {topic, partition, error}, or the
    reply's own error for every partition when it was refused whole."""
    found = {} if reply.error != "NONE" else {
        (r["topic"], r["partition"]): r["error"] for r in reply.body.get("partitions", [])}
    return [{"name": t.name, "partitions": [
        {"partition_index": p.partition_index,
         "error_code": found.get((t.name, p.partition_index), reply.error)}
        for p in t.partitions]} for t in topics]

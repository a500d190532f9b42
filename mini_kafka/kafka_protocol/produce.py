"""Produce: one record batch per partition, stored as sent (offsets are stamped in the
batch header, so a compressed batch is never opened on the way in)."""

from __future__ import annotations

from mini_kafka.kafka_protocol.api import CloseConnection, Context, adapter
from mini_kafka.kafka_protocol.entities import ms
from mini_kafka.protocol import ApiKey

PRODUCE = 0


@adapter(PRODUCE, 3, 9)
async def produce(ctx: Context, request):
    entries, payloads = [], []
    for topic in request.topic_data:
        for p in topic.partition_data:
            entries.append({"topic": topic.name, "partition": p.index, "batch": len(payloads)})
            payloads.append(p.records if p.records is not None else b"")
    body = {"acks": request.acks, "timeout_ms": ms(request.timeout), "partitions": entries,
            "transactional_id": request.transactional_id}
    reply = await ctx.call(ApiKey.PRODUCE, body, payloads)
    if request.acks == 0:  # Kafka sends no response at all, only a close on failure
        failed = _failures(reply, entries)
        if failed:
            raise CloseConnection(f"an acks=0 produce failed ({failed}): closing the "
                                  "connection so the client refreshes its metadata")
        return None
    results = reply.body.get("partitions") if reply.error == "NONE" else None
    by_topic: dict[str, list] = {}
    for i, entry in enumerate(entries):
        r = results[i] if results else {"error": reply.error, "message": reply.body.get(
            "message")}
        by_topic.setdefault(entry["topic"], []).append({
            "index": entry["partition"], "error_code": r["error"],
            "base_offset": r.get("base_offset", -1), "log_append_time": None,
            "log_start_offset": r.get("log_start_offset", -1), "record_errors": [],
            "error_message": r.get("message") if r["error"] != "NONE" else None})
    return ctx.respond({"throttle_time_ms": 0, "responses": [
        {"name": name, "partition_responses": parts} for name, parts in by_topic.items()]})


def _failures(reply, entries: list[dict]) -> str:
    """The first failed partition of a produce reply, as 'topic-partition: ERROR', or ''."""
    if reply.error != "NONE":
        return reply.error
    for entry, result in zip(entries, reply.body.get("partitions") or [], strict=False):
        if result["error"] != "NONE":
            return f"{entry['topic']}-{entry['partition']}: {result['error']}"
    return ""

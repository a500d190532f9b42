"""Every Kafka API adapter, at every version it advertises, turns any request kio can
express into a response that encodes and decodes back to itself — whatever the broker's
handlers answer, errors included. Requests come from hypothesis over kio's own types."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mini_kafka.broker.kafka_listener  # noqa: F401 (registers every adapter)
from mini_kafka.kafka_protocol.api import ADAPTERS, Context
from mini_kafka.kafka_protocol.codec import (
    RequestHeader,
    reader_for,
    request_class,
    response_class,
    write_response,
)
from mini_kafka.kafka_protocol.consumer_protocol import assignment_text, subscription_text
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Kind, Message

VERSIONS = [(key, v) for key, a in sorted(ADAPTERS.items())
            for v in range(a.min_version, a.max_version + 1)]


def _partitions(body: dict) -> list[dict]:
    return [{"topic": w["topic"], "partition": w["partition"], "error": "NONE",
             "base_offset": 7, "log_start_offset": 0, "high_watermark": 9,
             "last_stable_offset": 9, "log_end_offset": 9, "offset": 3, "timestamp": 5,
             "leader_epoch": 1, "metadata": "m", "records": None,
             "aborted_transactions": [[1000, 2]]} for w in body.get("partitions") or []]


def handler_reply(api: int, body: dict) -> dict:
    """What the broker's handlers answer, shaped as they shape it."""
    if api == ApiKey.METADATA:
        names = body["topics"] if body["topics"] is not None else ["t"]
        return {"topics": [{"name": n, "error": "NONE", "configs": {}, "topic_id": None,
                            "partitions": [{"partition": 0, "leader": 1, "leader_epoch": 0,
                                            "replicas": [1, 2], "isr": [1]}]} for n in names]}
    if api == ApiKey.PRODUCE:
        return {"partitions": [{"topic": e["topic"], "partition": e["partition"],
                                "error": "NONE", "base_offset": 7, "log_start_offset": 0}
                               for e in body["partitions"]]}
    if api in (ApiKey.FETCH, ApiKey.LIST_OFFSETS, ApiKey.OFFSET_FETCH):
        return {"partitions": _partitions(body) or [
            {"topic": "t", "partition": 0, "error": "NONE", "offset": 4, "metadata": ""}]}
    if api in (ApiKey.OFFSET_COMMIT, ApiKey.TXN_OFFSET_COMMIT):
        return {"partitions": [{"topic": o["topic"], "partition": o["partition"],
                                "error": "NONE"} for o in body["offsets"]]}
    if api == ApiKey.FIND_COORDINATOR:
        return {"node_id": 1, "endpoint": "tcp://127.0.0.1:1"}
    if api == ApiKey.JOIN_GROUP:
        return {"generation": 3, "protocol": "range", "protocol_type": "consumer",
                "leader": "m-1", "member_id": "m-1",
                "members": [{"member_id": "m-1", "instance_id": None,
                             "metadata": subscription_text(["t"])}]}
    if api == ApiKey.SYNC_GROUP:
        return {"assignment": assignment_text([("t", 0)]), "protocol": "range",
                "protocol_type": "consumer"}
    if api == ApiKey.DESCRIBE_GROUPS:
        return {"groups": [{"group_id": g, "error": "NONE", "state": "Stable",
                            "protocol_type": "consumer", "protocol": "range",
                            "members": [{"member_id": "m", "instance_id": None,
                                         "client_id": "c", "host": "/h",
                                         "metadata": subscription_text(["t"]),
                                         "assignment": assignment_text([("t", 0)])}]}
                           for g in body["groups"]]}
    if api == ApiKey.LIST_GROUPS:
        return {"groups": [{"group_id": "g", "state": "Empty", "protocol_type": "consumer"}]}
    if api == ApiKey.INIT_PRODUCER_ID:
        return {"producer_id": 1000, "producer_epoch": 0}
    if api in (ApiKey.CREATE_TOPICS, ApiKey.DELETE_TOPICS, ApiKey.CREATE_PARTITIONS):
        names = [t if isinstance(t, str) else t["name"] for t in body["topics"]]
        return {"topics": [{"name": n, "error": "NONE"} for n in names]}
    if api == ApiKey.DESCRIBE_CONFIGS:
        return {"resources": [{"type": r["type"], "name": r["name"], "error": "NONE",
                               "configs": [{"name": "retention.ms", "value": "1",
                                            "source": "topic"}]}
                              for r in body["resources"]]}
    if api == ApiKey.ELECT_LEADERS:
        return {"moved": 1, "not_needed": 0, "partitions": [
            {"topic": "t", "partition": 0, "error": "NONE", "preferred": 1,
             "previous_leader": 2}]}
    return {}


def fake_context(api_key: int, version: int, refuse: str | None) -> Context:
    async def call(api, body, payloads=None, expect_reply=True):
        request = Message(Kind.REQUEST, api, 1, "test", body, payloads or [])
        if refuse:
            return request.error_reply(refuse, "refused in the test", sender="b")
        return request.reply(handler_reply(api, body), [b"records"], sender="b")

    image = MetadataImage()
    image.topics["t"] = {"name": "t", "partitions": 1, "replication_factor": 1,
                         "configs": {}}
    return Context(header=RequestHeader(api_key, version, 42, "client"), broker_id=1,
                   cluster_id="cluster", client_host="127.0.0.1", call=call,
                   listeners=lambda: {1: ("127.0.0.1", 9092), 2: ("127.0.0.1", 9093)},
                   image=lambda: image)


@pytest.mark.parametrize(("api_key", "version"), VERSIONS,
                         ids=[f"api{k}-v{v}" for k, v in VERSIONS])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_advertised_version_answers_any_request(api_key, version, data):
    request = data.draw(st.from_type(request_class(api_key, version)))
    refuse = data.draw(st.sampled_from([None, None, "NOT_COORDINATOR", "INVALID_REQUEST"]))
    ctx = fake_context(api_key, version, refuse)
    response = asyncio.run(ADAPTERS[api_key].handle(ctx, request))
    if response is None:
        assert api_key == 0 and request.acks == 0  # only acks=0 goes unanswered
        return
    assert type(response) is response_class(api_key, version)
    encoded = write_response(42, response)
    header_bytes = 4 if (not response.__flexible__ or api_key == 18) else 5
    decoded, size = reader_for(type(response))(encoded, header_bytes)
    assert size == len(encoded) - header_bytes
    assert decoded == response

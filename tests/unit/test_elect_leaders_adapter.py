"""Kafka's ElectLeaders on the Kafka listener: a preferred election through the
broker's handler, answered per partition with Kafka's error codes."""

from __future__ import annotations

import asyncio

from kio.schema.elect_leaders.v2.request import ElectLeadersRequest, TopicPartitions
from kio.schema.errors import ErrorCode

import mini_kafka.broker.kafka_listener  # noqa: F401 (registers every adapter)
from mini_kafka.kafka_protocol.admin import ELECT_LEADERS
from mini_kafka.kafka_protocol.api import ADAPTERS, Context
from mini_kafka.kafka_protocol.codec import RequestHeader
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Kind, Message


def elect(request, answer: dict | None = None, refuse: str | None = None):
    calls = []

    async def call(api, body, payloads=None, expect_reply=True):
        calls.append((api, body))
        message = Message(Kind.REQUEST, api, 1, "test", body)
        if refuse:
            return message.error_reply(refuse, "topic 't' does not exist", sender="b")
        return message.reply(answer, sender="b")

    image = MetadataImage()
    image.topics["t"] = {"name": "t", "partitions": 2}
    for p in (0, 1):
        image.partitions[f"t/{p}"] = {"topic": "t", "partition": p, "leader": 2,
                                      "replicas": [1, 2], "isr": [1, 2]}
    ctx = Context(header=RequestHeader(ELECT_LEADERS, 2, 7, "c"), broker_id=1,
                  cluster_id="x", client_host="h", call=call, listeners=lambda: {1: ("h", 1)},
                  image=lambda: image)
    response = asyncio.run(ADAPTERS[ELECT_LEADERS].handle(ctx, request))
    results = {(t.topic, p.partition_id): p.error_code
               for t in response.replica_election_results for p in t.partition_result}
    return response, results, calls


def partition_result(partition, error, preferred=1, previous=2):
    return {"topic": "t", "partition": partition, "error": error, "preferred": preferred,
            "previous_leader": previous}


def test_named_partitions_each_get_their_result_unknown_ones_too():
    request = ElectLeadersRequest(election_type=0, topic_partitions=(
        TopicPartitions(topic="t", partitions=(0, 1, 5)),
        TopicPartitions(topic="gone", partitions=(0,))))
    answer = {"moved": 1, "not_needed": 0, "partitions": [
        partition_result(0, "NONE"), partition_result(1, "PREFERRED_LEADER_NOT_AVAILABLE")]}
    response, results, calls = elect(request, answer)
    assert calls == [(ApiKey.ELECT_LEADERS, {"topics": {"t": [0, 1]}})]
    assert response.error_code == ErrorCode.none
    assert results == {("t", 0): ErrorCode.none,
                       ("t", 1): ErrorCode.preferred_leader_not_available,
                       ("t", 5): ErrorCode.unknown_topic_or_partition,
                       ("gone", 0): ErrorCode.unknown_topic_or_partition}


def test_all_partitions_and_a_refused_request():
    request = ElectLeadersRequest(election_type=0, topic_partitions=None)
    _, results, calls = elect(request, {"moved": 0, "not_needed": 2, "partitions": []})
    assert calls == [(ApiKey.ELECT_LEADERS, {"topics": None})] and results == {}
    named = ElectLeadersRequest(election_type=0, topic_partitions=(
        TopicPartitions(topic="t", partitions=(0,)),))
    _, results, _ = elect(named, refuse="UNKNOWN_TOPIC_OR_PARTITION")  # deleted meanwhile
    assert results == {("t", 0): ErrorCode.unknown_topic_or_partition}


def test_an_unclean_election_is_refused():
    request = ElectLeadersRequest(election_type=1, topic_partitions=None)
    response, results, calls = elect(request)
    assert response.error_code == ErrorCode.invalid_request and calls == [] and results == {}

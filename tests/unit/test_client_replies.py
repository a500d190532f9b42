"""Every reply a client gets is checked for its error before its fields are read: an
error reply becomes a KafkaError naming it, a malformed one UNKNOWN_SERVER_ERROR — never
a KeyError from deep inside — and a bad argument to the Consumer or Admin is refused
where it is passed."""

from __future__ import annotations

import asyncio

import pytest

from mini_kafka.client import Admin, Consumer, TopicPartition
from mini_kafka.client.cluster import ClusterView
from mini_kafka.client.coordinator_link import CoordinatorLink
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey, Kind, Message

pytestmark = pytest.mark.unit


def reply(body: dict, sender: str = "broker-1") -> Message:
    return Message(Kind.REPLY, ApiKey.METADATA, 1, sender, body)


def view_answering(body: dict) -> ClusterView:
    view = ClusterView("c", ["tcp://127.0.0.1:1"], request_timeout_ms=1000,
                       retry_backoff_ms=10)

    async def any_broker(api, body_, timeout_ms=None):
        return reply(body)
    view.any_broker = any_broker
    return view


def test_a_metadata_error_reply_is_raised_as_its_error():
    view = view_answering({"error": "INVALID_REQUEST", "message": "not today"})
    with pytest.raises(KafkaError, match="INVALID_REQUEST: METADATA from broker-1: not today"):
        asyncio.run(view.refresh(None))


def test_a_malformed_metadata_reply_changes_nothing():
    view = view_answering({"error": "NONE", "brokers": [{"id": 1, "endpoint": "tcp://b:1"}],
                           "topics": [{"name": "t", "error": "NONE"}]})  # no partitions
    view.brokers = {2: "tcp://known:2"}
    with pytest.raises(KafkaError, match="UNKNOWN_SERVER_ERROR: malformed METADATA reply"):
        asyncio.run(view.refresh(None))
    assert view.brokers == {2: "tcp://known:2"} and view.topics == {}


def test_a_coordinator_among_the_candidates_is_named_when_no_broker_answers():
    view = ClusterView("c", ["tcp://127.0.0.1:19191"], request_timeout_ms=1000,
                       retry_backoff_ms=10)

    async def request(endpoint, api, body, payloads=None, timeout_ms=None):
        return reply({"error": "INVALID_REQUEST", "role": "coordinator",
                      "brokers": [{"id": 1, "endpoint": "tcp://127.0.0.1:19092"}]},
                     sender="coordinator-1")
    view.request = request
    with pytest.raises(KafkaError, match="127.0.0.1:19191 is coordinator-1, not a broker; "
                                         "brokers are 127.0.0.1:19092$"):
        asyncio.run(view.refresh(None))


@pytest.fixture
def admin(monkeypatch):
    answers = {}

    async def call(self, api, body, timeout_ms=None):
        return answers[api]
    monkeypatch.setattr(CoordinatorLink, "call", call)
    client = Admin("127.0.0.1:1")
    client.answers = answers
    yield client
    client.close()


def test_admin_group_calls_check_the_whole_reply(admin):
    admin.answers[ApiKey.DESCRIBE_GROUPS] = {"error": "NOT_COORDINATOR_FOR_NOTHING",
                                             "message": "boom"}
    with pytest.raises(KafkaError, match="describing group 'g': boom"):
        admin.describe_consumer_groups(["g"])
    admin.answers[ApiKey.OFFSET_COMMIT] = {"error": "GROUP_ID_NOT_FOUND"}
    with pytest.raises(KafkaError, match="GROUP_ID_NOT_FOUND"):
        admin.alter_consumer_group_offsets("g", {TopicPartition("t", 0): 5})


def test_admin_refuses_bad_arguments(admin):
    for call, error, message in (
            (lambda: admin.create_topics("t"), TypeError, "list of NewTopic"),
            (lambda: admin.delete_topics("t"), TypeError, "topics must be a list"),
            (lambda: admin.describe_topics(["bad name"]), ValueError, "not a valid topic"),
            (lambda: admin.describe_consumer_groups("g"), TypeError, "list of group ids"),
            (lambda: admin.list_consumer_group_offsets(None), TypeError, "group id"),
            (lambda: admin.alter_consumer_group_offsets("g", {("t", 0): "5"}), TypeError,
             "offset must be an int"),
            (lambda: admin.end_offsets([("t", "0")]), TypeError, "partition must be an int")):
        with pytest.raises(error, match=message):
            call()


def test_consumer_refuses_bad_arguments():
    with pytest.raises(TypeError, match=r"topics\[0\] must be a str"):
        Consumer(b"t", bootstrap_servers="127.0.0.1:1")
    with pytest.raises(TypeError, match="fetch_max_wait_ms must be an int"):
        Consumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms="500")
    consumer = Consumer(bootstrap_servers="127.0.0.1:1", group_id="g")
    try:
        for call, error, message in (
                (lambda: consumer.poll("1000"), TypeError, "timeout_ms must be an int"),
                (lambda: consumer.poll(100, max_records=0), ValueError, "max_records=0"),
                (lambda: consumer.assign("t"), TypeError, "list of TopicPartitions"),
                (lambda: consumer.assign([("t",)]), TypeError, "must be a TopicPartition"),
                (lambda: consumer.subscribe([b"t"]), TypeError, r"topics\[0\] must be a str"),
                (lambda: consumer.subscribe(["t"], on_assign="print"), TypeError,
                 "on_assign must be callable"),
                (lambda: consumer.seek(("t", 0), 5), KafkaError, "not assigned"),
                (lambda: consumer.seek(("t", "0"), 5), TypeError, "partition must be an int"),
                (lambda: consumer.commit({"t": 5}), TypeError, "must be a TopicPartition"),
                (lambda: consumer.partitions_for_topic(7), TypeError, "topic must be a str"),
                (lambda: consumer.close(timeout="1"), TypeError, "timeout")):
            with pytest.raises(error, match=message):
                call()
    finally:
        consumer.close(timeout=1)

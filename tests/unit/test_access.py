"""Who may ask what on a node's open endpoint, and what a member may claim."""

import pytest

from mini_kafka.access import refusal_from_member, refusal_on_open_endpoint
from mini_kafka.protocol import CLUSTER_APIS, ApiKey, Kind, Message


def msg(api, body=None, sender="someone"):
    return Message(Kind.REQUEST, api, 1, sender, body or {})


@pytest.mark.parametrize("api", sorted(CLUSTER_APIS))
def test_no_cluster_api_is_served_on_the_open_endpoint(api):
    assert "authenticated endpoint" in refusal_on_open_endpoint(msg(api))


@pytest.mark.parametrize("body, refused", [
    ({}, False), ({"replica_id": -1}, False), ({"replica_id": -2}, False),
    ({"replica_id": 0}, True), ({"replica_id": 2}, True),
    ({"replica_id": True}, False),  # not an integer: the handler says INVALID_REQUEST
])
def test_a_fetch_as_a_replica_is_not_served_on_the_open_endpoint(body, refused):
    assert bool(refusal_on_open_endpoint(msg(ApiKey.FETCH, body))) is refused


def test_client_apis_are_served_on_the_open_endpoint():
    for api in (ApiKey.PRODUCE, ApiKey.METADATA, ApiKey.JOIN_GROUP, ApiKey.END_TXN):
        assert refusal_on_open_endpoint(msg(api)) is None


@pytest.mark.parametrize("api, body, sender, refused", [
    (ApiKey.FETCH, {"replica_id": 2}, "broker-2", False),
    (ApiKey.FETCH, {"replica_id": 2}, "broker-3", True),
    (ApiKey.FETCH, {"replica_id": -1}, "launcher", False),
    (ApiKey.BROKER_HEARTBEAT, {"broker_id": 1}, "broker-1", False),
    (ApiKey.BROKER_HEARTBEAT, {"broker_id": 1}, "broker-2", True),
    (ApiKey.BROKER_REGISTRATION, {"broker_id": 3}, "coordinator-1", True),
    (ApiKey.RAFT, {"src": 2}, "coordinator-2", False),
    (ApiKey.RAFT, {"src": 2}, "coordinator-1", True),
    (ApiKey.RAFT, {"src": 1}, "broker-1", True),
    (ApiKey.CONTROLLER_WRITE, {"command": {}}, "launcher", False),
])
def test_a_member_speaks_only_for_itself(api, body, sender, refused):
    problem = refusal_from_member(msg(api, body, sender))
    assert bool(problem) is refused, problem

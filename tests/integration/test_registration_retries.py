"""A broker that retries its registration (each attempt timed out while the controller
was slow to commit) costs the Raft log one entry, not one per attempt: at 100 brokers on
two cores the retries were most of the log, and kept the controller slow."""

import asyncio

from launcher.control import call_node
from mini_kafka.access import member_names
from mini_kafka.protocol import ApiKey
from mini_kafka.transport import Client, load_keys
from tests.helpers import wait_until


def test_retried_registrations_of_one_incarnation_make_one_raft_entry(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(1, 4)
    config = cluster.config
    cluster.kill("broker-4")
    wait_until(lambda: cluster.metadata().brokers[4]["fenced"], what="broker-4 fenced")

    def offset() -> int:
        return call_node(config, "coordinator-1", ApiKey.STATUS,
                         timeout_ms=2000).body["metadata_offset"]

    before = offset()
    spec = config.node("broker-4")
    body = {"broker_id": 4, "endpoint": spec.endpoint, "kafka_endpoint": spec.kafka_address,
            "incarnation": "the same process, retrying"}
    controller = config.node("coordinator-1").cluster_endpoint

    async def register_many():
        # broker-4's own identity: only it may register broker 4.
        client = Client("broker-4", keys=load_keys(config.keys_dir, "broker-4",
                                                   member_names(config)),
                        member_endpoints={s.cluster_endpoint: s.name for s in config.nodes},
                        peer_names={s.cluster_endpoint: s.name for s in config.nodes})
        try:
            together = await asyncio.gather(*(
                client.request(controller, ApiKey.BROKER_REGISTRATION, body,
                               timeout_ms=10_000) for _ in range(20)))
            after = [await client.request(controller, ApiKey.BROKER_REGISTRATION, body,
                                          timeout_ms=10_000) for _ in range(5)]
            return together + after
        finally:
            client.close()

    replies = asyncio.run(register_many())
    assert {r.error for r in replies} == {"NONE"}
    assert len({r.body["broker_epoch"] for r in replies}) == 1
    assert offset() - before == 1

"""A fetch's long poll is cut to its own bound: a consumer's to limits.fetch_wait_ms_max,
a follower's to timeouts.replica_fetch_wait_max_ms. Followers were once cut to the
consumers' 5 s, so every idle follower asked its leaders twice as often as configured."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.broker.api import BrokerApi
from mini_kafka.config import config_from_dict
from mini_kafka.protocol import ApiKey, Kind, Message


class RecordingReplicas:
    def __init__(self):
        self.bodies: list[dict] = []

    async def fetch(self, body):
        self.bodies.append(body)
        return [], []


def served_wait_ms(replica_id: int, asked_ms: int, timeouts: dict, limits: dict) -> int:
    config = config_from_dict({"timeouts": timeouts, "limits": limits})
    replicas = RecordingReplicas()
    role = SimpleNamespace(node=SimpleNamespace(name="broker-1"), config=config,
                           replicas=replicas)
    request = Message(Kind.REQUEST, ApiKey.FETCH, 1, "broker-2",
                      {"replica_id": replica_id, "max_wait_ms": asked_ms, "partitions": []})
    reply = asyncio.run(BrokerApi(role).fetch(request))
    assert reply.error == "NONE"
    [body] = replicas.bodies
    return body["max_wait_ms"]


BOUNDS = ({"replica_fetch_wait_max_ms": 12_000}, {"fetch_wait_ms_max": 3_000})


def test_a_followers_fetch_waits_as_long_as_replica_fetch_wait_max_ms():
    assert served_wait_ms(2, 12_000, *BOUNDS) == 12_000
    assert served_wait_ms(2, 60_000, *BOUNDS) == 12_000  # and no longer
    assert served_wait_ms(2, 500, *BOUNDS) == 500


def test_a_consumers_fetch_is_cut_to_fetch_wait_ms_max():
    assert served_wait_ms(-1, 12_000, *BOUNDS) == 3_000
    assert served_wait_ms(-1, 200, *BOUNDS) == 200

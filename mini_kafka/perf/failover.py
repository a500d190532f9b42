"""`mini-kafka perf failover`: how long the cluster is without a controller after its
leader is killed, and how long a partition is without a leader after its broker is.

A fresh cluster is started in a temporary directory on free ports. Times are taken from
the SIGKILL to the first metadata write that commits (controller failover), and to the
first committed metadata that names a new partition leader (broker failover: the
controller fences a broker whose connection dropped, so no session timeout is in it).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey

PROBE_TIMEOUT_MS = 100


@dataclass
class FailoverReport:
    controller_ms: list[float]
    broker_ms: list[float]
    settings: dict[str, int]
    write_ms: list[float] = field(default_factory=list)

    def format(self) -> str:
        def line(name, values):
            if not values:
                return f"{name:<40} (not measured)"
            return (f"{name:<40} median {statistics.median(values):7.0f} ms   "
                    f"min {min(values):6.0f}   max {max(values):6.0f}   (n={len(values)})")
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        return "\n".join([f"settings: {settings}",
                          line("controller kill -> next committed write", self.controller_ms),
                          line("leader broker kill -> new leader", self.broker_ms),
                          line("leader broker kill -> next acked write", self.write_ms)])


def _first_commit_ms(config, endpoints: list[str], began: float, deadline_s: float) -> float:
    """Try a write at every coordinator in turn until one commits."""
    from launcher.control import member_client

    async def probe():
        client = member_client(config, retries_max=0)
        try:
            while time.monotonic() < deadline_s:
                for endpoint in endpoints:
                    try:
                        reply = await client.request(
                            endpoint, ApiKey.CONTROLLER_WRITE,
                            {"command": {"op": "init_producer_id"}},
                            timeout_ms=PROBE_TIMEOUT_MS)
                    except KafkaError:
                        continue
                    if reply.error == "NONE":
                        return (time.monotonic() - began) * 1000
            raise RuntimeError("no write committed before the deadline")
        finally:
            client.close()

    return asyncio.run(probe())


def run(kills: int = 10, broker_kills: int = 5, deadline_s: float = 30.0) -> FailoverReport:
    from launcher import Cluster
    from launcher.configs import local_cluster_config
    from mini_kafka.client import Producer

    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(local_cluster_config(Path(tmp) / "cluster", 3, 3))
        with cluster:
            coordinators = [s for s in cluster.config.nodes if s.role == "coordinator"]
            controller_ms = []
            for _ in range(kills):
                leader = _wait(cluster.controller, deadline_s)
                others = [s.cluster_endpoint for s in coordinators if s.name != leader]
                began = time.monotonic()
                cluster.kill(leader)
                controller_ms.append(_first_commit_ms(cluster.config, others, began,
                                                      began + deadline_s))
                cluster.restart(leader)
            broker_ms, write_ms = [], []
            for i in range(broker_kills):
                # A fresh topic each round: its ISR holds every broker, whatever earlier
                # rounds did to the ISRs of others.
                topic = f"perf-failover-{i}"
                cluster.write_metadata({"op": "create_topic", "name": topic,
                                        "partitions": 1, "replication_factor": 3})
                image = cluster.metadata(linearizable=True)
                victim = image.partition(topic, 0)["leader"]
                producer = Producer(cluster.bootstrap, acks="all", linger_ms=0,
                                    retry_backoff_ms=20)
                producer.send(topic, b"warm-up", partition=0).get(10)
                began = time.monotonic()
                cluster.kill(f"broker-{victim}")
                # The first record sent after the kill is acknowledged by the new leader.
                producer.send(topic, b"after the kill", partition=0).get(deadline_s)
                write_ms.append((time.monotonic() - began) * 1000)
                producer.close()

                def new_leader(v=victim, t=topic):
                    p = cluster.metadata(linearizable=True).partition(t, 0)
                    return p["leader"] not in (v, -1)

                _wait(new_leader, deadline_s, interval_s=0.01)
                broker_ms.append((time.monotonic() - began) * 1000)
                cluster.restart(f"broker-{victim}")
            t = cluster.config.timeouts
            settings = {"raft_election_timeout_ms": t.raft_election_timeout_ms,
                        "raft_heartbeat_interval_ms": t.raft_heartbeat_interval_ms,
                        "broker_session_timeout_ms": t.broker_session_timeout_ms,
                        "broker_heartbeat_interval_ms": t.broker_heartbeat_interval_ms}
    return FailoverReport(controller_ms, broker_ms, settings, write_ms)


def _wait(predicate, deadline_s: float, interval_s: float = 0.02):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            value = predicate()
        except KafkaError:
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise RuntimeError(f"gave up after {deadline_s} s waiting for {predicate}")

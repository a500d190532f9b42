"""A ReplicaManager leading partitions, for tests of what a leader asks the controller
and its followers: broker 1 leads every partition of topic "t"."""

from __future__ import annotations

from types import SimpleNamespace

from mini_kafka.metadata import MetadataImage


def leading_image(partitions: int, replicas: list[int], isr: list[int],
                  fenced: tuple[int, ...] = ()) -> MetadataImage:
    return MetadataImage.from_snapshot({
        "offset": 10,
        "brokers": [{"id": b, "endpoint": f"tcp://b{b}", "epoch": 5, "incarnation": "x",
                     "fenced": b in fenced} for b in replicas],
        "topics": [{"name": "t", "partitions": partitions, "replication_factor": len(replicas),
                    "configs": {}, "topic_id": "id-7"}],
        "partitions": [{"topic": "t", "partition": p, "replicas": replicas, "leader": 1,
                        "leader_epoch": 0, "isr": isr, "partition_epoch": 0}
                       for p in range(partitions)]})


def refusing_controller(writes: list[dict]) -> SimpleNamespace:
    """Records each write and refuses every change in it (retriable NOT_CONTROLLER)."""
    async def write(command):
        writes.append(command)
        return {"error": "NONE", "results": [
            {"error": "NOT_CONTROLLER", "message": "try again"}] * len(command["changes"])}
    return SimpleNamespace(write=write)

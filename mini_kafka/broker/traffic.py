"""Cumulative client traffic a broker reports in its STATUS reply — pure counting.

Records and bytes appended for producers, and records and bytes served to consumers, so
the console can draw the cluster's produce and fetch rates from successive status reads.
Followers' replication fetches and the broker's own writes (transaction markers) are not
client traffic and are not counted; fetched records count whole batches, as served.
"""

from __future__ import annotations

from mini_kafka import records


class TrafficCounters:
    def __init__(self):
        self.produced_records = 0
        self.produced_bytes = 0
        self.fetched_records = 0
        self.fetched_bytes = 0

    def on_produce(self, items: list[tuple[str, int, object]], results: list[dict]) -> None:
        """`items` as given to ReplicaManager.produce, `results` as it answered."""
        for (_, _, batch), result in zip(items, results, strict=True):
            if result["error"] == "NONE":
                self.produced_records += records.peek_header(batch).records_count
                self.produced_bytes += len(batch)

    def on_fetch(self, replica_id: int, payloads: list) -> None:
        if replica_id >= 0:  # a follower replicating
            return
        for data in payloads:
            self.fetched_bytes += len(data)
            self.fetched_records += sum(h.records_count for _, h in records.iter_headers(data)
                                        if not h.is_control)

    def to_status(self) -> dict[str, int]:
        return {"produced_records": self.produced_records,
                "produced_bytes": self.produced_bytes,
                "fetched_records": self.fetched_records, "fetched_bytes": self.fetched_bytes}

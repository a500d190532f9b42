"""The broker's client-traffic counters (reported in STATUS for the console's rates)."""

from mini_kafka import records
from mini_kafka.broker.traffic import TrafficCounters


def batch(n: int, **fields) -> bytes:
    return records.encode_batch([(b"k", b"v" * 10, 1_000 + i, None) for i in range(n)],
                                **fields)


def test_produce_counts_records_and_bytes_of_accepted_batches_only():
    counters = TrafficCounters()
    ok, refused = batch(3), batch(5)
    counters.on_produce([("t", 0, ok), ("t", 1, refused)],
                        [{"error": "NONE"}, {"error": "NOT_LEADER_OR_FOLLOWER"}])
    assert counters.to_status() == {"produced_records": 3, "produced_bytes": len(ok),
                                    "fetched_records": 0, "fetched_bytes": 0}


def test_consumer_fetches_count_but_replication_and_markers_do_not():
    counters = TrafficCounters()
    marker = records.encode_marker(7, 0, True, 0, 1_000)
    served = batch(2) + marker + batch(4)
    counters.on_fetch(-1, [served, batch(1)])
    counters.on_fetch(2, [batch(9)])  # broker 2 replicating
    status = counters.to_status()
    assert status["fetched_records"] == 7
    assert status["fetched_bytes"] == len(served) + len(batch(1))

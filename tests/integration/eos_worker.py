"""A consume-transform-produce worker, exactly once: `python -m tests.integration.eos_worker
BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID`. Each poll's records are copied to the
output partition of the same number, and their input offsets committed, in one
transaction; any failure aborts it and rewinds to the group's committed offsets."""

from __future__ import annotations

import sys

from mini_kafka.client import Consumer, Producer
from mini_kafka.errors import KafkaError

FAST = {"session_timeout_ms": 1500, "heartbeat_interval_ms": 300}


def rewind(consumer: Consumer) -> None:
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def main(bootstrap: str, source: str, sink: str, group: str, transactional_id: str) -> None:
    consumer = Consumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                        isolation_level="read_committed", auto_offset_reset="earliest", **FAST)
    producer = Producer(bootstrap, transactional_id=transactional_id,
                        transaction_timeout_ms=3000, linger_ms=0)
    producer.init_transactions()
    consumer.subscribe([source])
    while True:
        polled = consumer.poll(200)
        if not polled:
            continue
        producer.begin_transaction()
        try:
            for tp, recs in polled.items():
                for r in recs:
                    producer.send(sink, r.value, key=r.key, partition=tp.partition)
            producer.send_offsets_to_transaction(
                {tp: recs[-1].offset + 1 for tp, recs in polled.items()},
                consumer.group_metadata())
            producer.commit_transaction()
        except KafkaError as e:
            if e.error.name == "PRODUCER_FENCED":
                raise
            print(f"aborting: {e}", file=sys.stderr, flush=True)
            producer.abort_transaction()
            rewind(consumer)


if __name__ == "__main__":
    main(*sys.argv[1:6])

"""Clients that exit without close(), as scripts do: `python -m
tests.integration.exit_worker KIND BOOTSTRAP [ARGS]`. Each prints `ready` when it has
done its part and, where the test must act first, waits for a line on stdin; then it
ends without closing anything.

  produce N        send N records to topic `exit`, then end
  produce-raise N  the same, then die of an uncaught exception
  produce-stuck N  learn the topic, say ready, wait; then send N records and end
  consume GROUP    join GROUP on topic `exit`, poll until it has records, then end
  admin            list the topics, then end
"""

from __future__ import annotations

import sys

from mini_kafka.client import Admin, Consumer, Producer


def main(kind: str, bootstrap: str, *args: str) -> None:
    if kind in ("produce", "produce-raise"):
        producer = Producer(bootstrap)
        for i in range(int(args[0])):
            producer.send("exit", b"%d" % i)
        print("ready", flush=True)
        if kind == "produce-raise":
            raise RuntimeError("the script dies with records still buffered")
    elif kind == "produce-stuck":
        producer = Producer(bootstrap, exit_timeout_ms=1000, request_timeout_ms=60_000)
        producer.partitions_for("exit")
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(int(args[0])):
            producer.send("exit", b"%d" % i)
    elif kind == "consume":
        consumer = Consumer("exit", bootstrap_servers=bootstrap, group_id=args[0],
                            auto_offset_reset="earliest", session_timeout_ms=60_000,
                            heartbeat_interval_ms=1000)
        while not consumer.poll(1000):
            pass
        print("ready", flush=True)
    elif kind == "admin":
        admin = Admin(bootstrap)
        admin.list_topics()
        print("ready", flush=True)
    else:
        raise SystemExit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])

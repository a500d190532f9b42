"""`mini-kafka produce` and `mini-kafka consume` (the console producer and consumer)."""

from __future__ import annotations

import argparse
import sys

from mini_kafka.cli.common import CliError, add_bootstrap, bootstrap, client_kwargs, parse_pairs
from mini_kafka.client import Consumer, Producer, TopicPartition


def register(sub: argparse._SubParsersAction) -> None:
    produce = sub.add_parser("produce", help="send lines from stdin as records")
    produce.add_argument("topic")
    produce.add_argument("--key-separator", metavar="S",
                         help="split each line into KEY<S>VALUE (as parse.key=true)")
    produce.add_argument("--acks", default="all", choices=["all", "-1", "0", "1"])
    produce.add_argument("--producer-property", action="append", metavar="KEY=VALUE",
                         help="e.g. linger.ms=10 (repeatable)")
    produce.set_defaults(func=cmd_produce)
    add_bootstrap(produce)

    consume = sub.add_parser("consume", help="print records")
    consume.add_argument("topic")
    consume.add_argument("--from-beginning", action="store_true",
                         help="start at the earliest offset (default: only new records)")
    consume.add_argument("--group", metavar="G",
                         help="consume as a member of group G, from its committed offsets, "
                              "committing as it goes")
    consume.add_argument("--consumer-property", action="append", metavar="KEY=VALUE",
                         help="e.g. session.timeout.ms=6000 (repeatable)")
    consume.add_argument("--partition", type=int, help="read only this partition")
    consume.add_argument("--offset", type=int, help="start here (needs --partition)")
    consume.add_argument("--max-messages", type=int, help="exit after this many records")
    consume.add_argument("--timeout-ms", type=int,
                         help="exit when no record arrives for this long")
    consume.add_argument("--print-key", action="store_true")
    consume.add_argument("--print-offset", action="store_true")
    consume.add_argument("--print-partition", action="store_true")
    consume.add_argument("--key-separator", default="\t", metavar="S",
                         help="between key and value with --print-key (default: tab)")
    consume.set_defaults(func=cmd_consume)
    add_bootstrap(consume)


def cmd_produce(args) -> int:
    config = client_kwargs(parse_pairs(args.producer_property, "--producer-property"),
                           Producer, "producer property")
    config["acks"] = config.get("acks", args.acks)
    failures = 0
    with Producer(bootstrap(args), **config) as producer:
        futures = []
        for line in sys.stdin:
            line = line.rstrip("\n")
            key = None
            if args.key_separator is not None:
                key_text, sep, line = line.partition(args.key_separator)
                if not sep:
                    raise CliError(f"no key separator {args.key_separator!r} in line "
                                   f"{key_text!r}")
                key = key_text.encode()
            futures.append(producer.send(args.topic, line.encode(), key=key))
        producer.flush()
        for f in futures:
            if f.exception() is not None:
                failures += 1
                print(f"error: {f.exception()}", file=sys.stderr)
    return 1 if failures else 0


def cmd_consume(args) -> int:
    if args.offset is not None and args.partition is None:
        raise CliError("--offset needs --partition")
    if args.group is not None and args.partition is not None:
        raise CliError("--group and --partition do not go together: the group assigns "
                       "partitions")
    config = client_kwargs(parse_pairs(args.consumer_property, "--consumer-property"),
                           Consumer, "consumer property",
                           reserved=("bootstrap_servers", "group_id", "clock"))
    if isinstance(config.get("partition_assignment_strategy"), str):
        config["partition_assignment_strategy"] = \
            config["partition_assignment_strategy"].split(",")
    config.setdefault("auto_offset_reset", "earliest" if args.from_beginning else "latest")
    consumer = Consumer(bootstrap_servers=bootstrap(args), group_id=args.group, **config)
    count = 0
    try:
        if args.group is not None:
            consumer.partitions_for_topic(args.topic)  # an unknown topic fails here, clearly
            consumer.subscribe([args.topic])
        else:
            partitions = [args.partition] if args.partition is not None else \
                sorted(consumer.partitions_for_topic(args.topic))
            consumer.assign([TopicPartition(args.topic, p) for p in partitions])
        if args.offset is not None:
            consumer.seek(TopicPartition(args.topic, args.partition), args.offset)
        idle_ms = 0
        while args.max_messages is None or count < args.max_messages:
            polled = consumer.poll(500, max_records=None if args.max_messages is None
                                   else args.max_messages - count)
            if not polled:
                idle_ms += 500
                if args.timeout_ms is not None and idle_ms >= args.timeout_ms:
                    break
                continue
            idle_ms = 0
            for record in sorted((r for rs in polled.values() for r in rs),
                                 key=lambda r: (r.partition, r.offset)):
                print(_format(record, args), flush=True)
                count += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(f"Processed a total of {count} messages", file=sys.stderr)
    return 0


def _format(record, args) -> str:
    def text(b):
        return "null" if b is None else b.decode(errors="replace")

    parts = []
    if args.print_partition:
        parts.append(f"Partition:{record.partition}")
    if args.print_offset:
        parts.append(f"Offset:{record.offset}")
    prefix = "\t".join(parts) + ("\t" if parts else "")
    if args.print_key:
        return f"{prefix}{text(record.key)}{args.key_separator}{text(record.value)}"
    return f"{prefix}{text(record.value)}"

"""`mini-kafka perf ...`: benchmarks."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("perf", help="benchmarks")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    storage = cmds.add_parser("storage", help="record codec and partition log throughput")
    storage.add_argument("--num-records", type=int, default=200_000)
    storage.add_argument("--record-size", type=int, default=100, help="value bytes")
    storage.add_argument("--batch-records", type=int, default=160)
    storage.add_argument("--repeats", type=int, default=5)
    storage.set_defaults(func=cmd_storage)
    failover = cmds.add_parser("failover", help="controller and partition-leader failover "
                                                "times on a fresh local cluster")
    failover.add_argument("--kills", type=int, default=10, help="controller kills")
    failover.add_argument("--broker-kills", type=int, default=5, help="leader broker kills")
    failover.set_defaults(func=cmd_failover)


def cmd_failover(args) -> int:
    from mini_kafka.perf import failover

    if args.kills < 0 or args.broker_kills < 0:
        raise SystemExit("error: --kills and --broker-kills must not be negative")
    print(failover.run(args.kills, args.broker_kills).format())
    return 0


def cmd_storage(args) -> int:
    from mini_kafka.perf import storage

    for name in ("num_records", "record_size", "batch_records", "repeats"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1")
    figures = storage.run(args.num_records, args.record_size, args.batch_records, args.repeats)
    print(f"{args.num_records} records of {args.record_size} bytes in batches of "
          f"{args.batch_records}; medians of {args.repeats} runs")
    print(storage.format_figures(figures))
    return 0

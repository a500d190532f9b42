"""`mini-kafka topic create|list|describe|delete` (kafka-topics)."""

from __future__ import annotations

import argparse

from mini_kafka.cli.common import add_bootstrap, bootstrap, parse_pairs
from mini_kafka.client import Admin, NewTopic


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("topic", help="create, list, describe and delete topics")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = cmds.add_parser("create", help="create a topic")
    create.add_argument("name")
    create.add_argument("--partitions", type=int, default=-1, help="default: the cluster's")
    create.add_argument("--replication-factor", type=int, default=-1,
                        help="default: the cluster's")
    create.add_argument("--config", action="append", metavar="KEY=VALUE",
                        help="a topic config, Kafka's names (retention.ms=..., repeatable)")
    create.set_defaults(func=cmd_create)

    lst = cmds.add_parser("list", help="list topics")
    lst.set_defaults(func=cmd_list)

    describe = cmds.add_parser("describe", help="partitions, leaders, replicas, ISR")
    describe.add_argument("name", nargs="?", help="one topic (default: all)")
    describe.add_argument("--under-replicated", action="store_true",
                          help="only partitions whose ISR is smaller than their replicas")
    describe.set_defaults(func=cmd_describe)

    delete = cmds.add_parser("delete", help="delete a topic and its data")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_delete)
    for p in (create, lst, describe, delete):
        add_bootstrap(p)


def cmd_create(args) -> int:
    topic = NewTopic(args.name, args.partitions, args.replication_factor,
                     parse_pairs(args.config, "--config"))
    with Admin(bootstrap(args)) as admin:
        admin.create_topics([topic])
    print(f"Created topic {args.name}.")
    return 0


def cmd_list(args) -> int:
    with Admin(bootstrap(args)) as admin:
        for name in admin.list_topics():
            print(name)
    return 0


def cmd_describe(args) -> int:
    with Admin(bootstrap(args)) as admin:
        topics = admin.describe_topics([args.name] if args.name else None)
    for t in topics:
        parts = t["partitions"]
        if args.under_replicated:
            parts = [p for p in parts if len(p["isr"]) < len(p["replicas"])]
            if not parts:
                continue
        configs = ",".join(f"{k}={v}" for k, v in sorted(t.get("configs", {}).items()))
        rf = len(parts[0]["replicas"]) if parts else 0
        print(f"Topic: {t['name']}\tPartitionCount: {len(t['partitions'])}\t"
              f"ReplicationFactor: {rf}\tConfigs: {configs}")
        for p in parts:
            print(f"\tTopic: {t['name']}\tPartition: {p['partition']}\t"
                  f"Leader: {p['leader'] if p['leader'] >= 0 else 'none'}\t"
                  f"Replicas: {','.join(map(str, p['replicas']))}\t"
                  f"Isr: {','.join(map(str, p['isr']))}\tLeaderEpoch: {p['leader_epoch']}\t"
                  f"HighWatermark: {p.get('high_watermark', '?')}\t"
                  f"LogEndOffset: {p.get('log_end_offset', '?')}")
    return 0


def cmd_delete(args) -> int:
    with Admin(bootstrap(args)) as admin:
        admin.delete_topics([args.name])
    print(f"Deleted topic {args.name}.")
    return 0

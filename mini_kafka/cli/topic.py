"""`mini-kafka topic create|list|describe|delete` (kafka-topics) and `topic
rebalance-leaders` (kafka-leader-election --election-type preferred)."""

from __future__ import annotations

import argparse

from mini_kafka.cli import topic_views
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
    describe.add_argument("--unavailable", action="store_true",
                          help="only partitions without a leader")
    describe.add_argument("--broker", type=int, metavar="ID",
                          help="only partitions with a replica on this broker")
    describe.add_argument("--summary", action="store_true",
                          help="one line: partitions, how many are under-replicated or "
                               "leaderless, and how leadership is spread over the brokers")
    describe.set_defaults(func=cmd_describe)

    delete = cmds.add_parser("delete", help="delete a topic and its data")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_delete)

    rebalance = cmds.add_parser(
        "rebalance-leaders",
        help="give leadership back to each partition's preferred replica",
        description="Moves every partition's leadership (or a topic's, or one partition's) "
                    "back to its preferred replica, the first of its replicas, where that "
                    "broker is in the ISR and up, in one metadata change. Exit status 1 if "
                    "a partition could not be moved (its preferred replica is out of the "
                    "ISR or down: run it again once that broker has caught up).")
    rebalance.add_argument("--topic", help="only this topic's partitions")
    rebalance.add_argument("--partition", type=int, metavar="N",
                           help="with --topic: only this partition")
    rebalance.set_defaults(func=cmd_rebalance_leaders)
    for p in (create, lst, describe, delete, rebalance):
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
    if args.summary:
        print(topic_views.summary(topics))
        return 0
    filtered = args.under_replicated or args.unavailable or args.broker is not None
    for t in topics:
        parts = topic_views.select(t["partitions"], args.under_replicated, args.unavailable,
                                   args.broker)
        if filtered and not parts:
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


def cmd_rebalance_leaders(args) -> int:
    if args.partition is not None and args.topic is None:
        raise ValueError("--partition needs --topic: a partition number names a partition "
                         "of one topic")
    topics = None if args.topic is None else \
        {args.topic: None if args.partition is None else [args.partition]}
    with Admin(bootstrap(args)) as admin:
        result = admin.elect_preferred_leaders(topics)
    lines, not_movable = topic_views.election_report(result)
    print("\n".join(lines))
    return 1 if not_movable else 0

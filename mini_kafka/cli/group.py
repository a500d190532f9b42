"""`mini-kafka group list|describe|reset-offsets` (kafka-consumer-groups)."""

from __future__ import annotations

import argparse

from mini_kafka.cli.common import CliError, add_bootstrap, bootstrap
from mini_kafka.cli.table import format_table
from mini_kafka.client import Admin

LAG_HEADERS = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
               "CONSUMER-ID", "HOST", "CLIENT-ID"]


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("group", help="list and describe consumer groups, reset offsets")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    lst = cmds.add_parser("list", help="every consumer group")
    lst.add_argument("--state", action="store_true", help="show each group's state too")
    lst.set_defaults(func=cmd_list)

    describe = cmds.add_parser("describe", help="offsets and lag per partition (default), "
                                                "members, or state")
    describe.add_argument("group_id", metavar="GROUP")
    show = describe.add_mutually_exclusive_group()
    show.add_argument("--members", action="store_true", help="members and their partitions")
    show.add_argument("--state", action="store_true", help="state, assignor, member count")
    describe.set_defaults(func=cmd_describe)

    reset = cmds.add_parser("reset-offsets", help="move a group's committed offsets (a dry "
                                                  "run unless --execute)")
    reset.add_argument("group_id", metavar="GROUP")
    reset.add_argument("--topic", required=True, help="TOPIC or TOPIC:P1,P2")
    to = reset.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true")
    to.add_argument("--to-latest", action="store_true")
    to.add_argument("--to-offset", type=int, metavar="N")
    reset.add_argument("--execute", action="store_true", help="apply (default: show only)")
    reset.set_defaults(func=cmd_reset)
    for p in (lst, describe, reset):
        add_bootstrap(p)


def cmd_list(args) -> int:
    with Admin(bootstrap(args)) as admin:
        groups = admin.list_consumer_groups()
    if args.state:
        print(format_table(["GROUP", "STATE"], [(g["group_id"], g["state"]) for g in groups]))
    else:
        for g in groups:
            print(g["group_id"])
    return 0


def cmd_describe(args) -> int:
    with Admin(bootstrap(args)) as admin:
        [group] = admin.describe_consumer_groups([args.group_id])
        if group["state"] == "Dead":
            raise CliError(f"consumer group {args.group_id!r} does not exist")
        if args.state:
            print(format_table(["GROUP", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
                               [(args.group_id, group["protocol"] or "", group["state"],
                                 len(group["members"]))]))
            return 0
        if args.members:
            print(format_table(["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS",
                                "ASSIGNMENT"],
                               [(args.group_id, m["member_id"], m["host"], m["client_id"],
                                 len(m["partitions"]), _partitions(m["partitions"]))
                                for m in group["members"]]))
            return 0
        committed = admin.list_consumer_group_offsets(args.group_id)
        owner = {tp: m for m in group["members"] for tp in m["partitions"]}
        tps = sorted(set(committed) | set(owner))
        ends = admin.end_offsets(tps) if tps else {}
    if group["state"] != "Stable":
        print(f"Consumer group '{args.group_id}' has no active members."
              if not group["members"] else
              f"Consumer group '{args.group_id}' is rebalancing ({group['state']}).")
    rows = []
    for tp in tps:
        current, end = committed.get(tp), ends.get(tp)
        lag = end - current if current is not None and end is not None else None
        m = owner.get(tp)
        rows.append((args.group_id, tp[0], tp[1], _dash(current), _dash(end), _dash(lag),
                     m["member_id"] if m else "-", m["host"] if m else "-",
                     m["client_id"] if m else "-"))
    print(format_table(LAG_HEADERS, rows))
    return 0


def cmd_reset(args) -> int:
    topic, _, wanted = args.topic.partition(":")
    with Admin(bootstrap(args)) as admin:
        [group] = admin.describe_consumer_groups([args.group_id])
        if group["members"]:
            raise CliError(f"consumer group {args.group_id!r} is active "
                           f"({len(group['members'])} members, {group['state']}): stop its "
                           "consumers before resetting its offsets")
        [described] = admin.describe_topics([topic])
        parts = {p["partition"]: p for p in described["partitions"]}
        chosen = sorted(parts) if not wanted else [int(p) for p in wanted.split(",")]
        missing = [p for p in chosen if p not in parts]
        if missing:
            raise CliError(f"topic {topic!r} has no partition {missing[0]}")
        earliest = admin.beginning_offsets([(topic, p) for p in chosen])
        targets = {}
        for p in chosen:
            end = parts[p]["high_watermark"]
            start = earliest[(topic, p)]
            if args.to_earliest:
                targets[(topic, p)] = start
            elif args.to_latest:
                targets[(topic, p)] = end
            else:  # Kafka clamps an out-of-range target to the log's bounds
                targets[(topic, p)] = min(max(args.to_offset, start), end)
        if args.execute:
            admin.alter_consumer_group_offsets(args.group_id, targets)
    print(format_table(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
                       [(args.group_id, t, p, o) for (t, p), o in sorted(targets.items())]))
    if not args.execute:
        print("(dry run: add --execute to apply)")
    return 0


def _dash(v) -> str:
    return "-" if v is None else str(v)


def _partitions(tps) -> str:
    by_topic: dict[str, list[int]] = {}
    for t, p in sorted(tps):
        by_topic.setdefault(t, []).append(p)
    return ",".join(f"{t}({','.join(map(str, ps))})" for t, ps in by_topic.items()) or "-"

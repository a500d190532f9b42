"""`mini-kafka chaos ...`: break the running cluster on purpose."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from launcher import Cluster
from mini_kafka.cli import chaos_run
from mini_kafka.cli.common import WHERE_HELP, parse_duration_s

NODE_HELP = "a node: broker-2, coordinator-1, controller, or leader-of TOPIC/PARTITION"


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("chaos", help="kill, pause, cut off or slow down nodes")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    kill = cmds.add_parser("kill", help="send a node a signal (default SIGKILL)")
    kill.add_argument("node", nargs="+", help=NODE_HELP)
    kill.add_argument("--signal", default="KILL", choices=["KILL", "TERM"])
    kill.set_defaults(func=cmd_kill)

    pause = cmds.add_parser("pause", help="SIGSTOP a node (SIGCONT after --for)")
    pause.add_argument("node", nargs="+", help=NODE_HELP)
    pause.add_argument("--for", dest="duration", help="resume after this long, e.g. 5s")
    pause.set_defaults(func=cmd_pause)

    resume = cmds.add_parser("resume", help="SIGCONT a paused node")
    resume.add_argument("node", nargs="+", help=NODE_HELP)
    resume.set_defaults(func=cmd_resume)

    restart = cmds.add_parser("restart", help="stop (TERM, then KILL) and start a node")
    restart.add_argument("node", nargs="+", help=NODE_HELP)
    restart.set_defaults(func=cmd_restart)

    part = cmds.add_parser("partition", help="cut the links between groups of nodes")
    part.add_argument("groups", nargs="+", metavar="A,B",
                      help="comma-separated groups; one group is cut from all the rest")
    part.add_argument("--from", dest="one_way", metavar="X,Y",
                      help="cut only traffic sent by these nodes (one-way)")
    part.set_defaults(func=cmd_partition)

    delay = cmds.add_parser("delay", help="delay everything a node sends")
    delay.add_argument("node", nargs="+", help=NODE_HELP)
    delay.add_argument("--ms", type=int, required=True)
    delay.add_argument("--jitter", type=int, default=0, help="extra random delay, ms")
    delay.set_defaults(func=cmd_delay)

    loss = cmds.add_parser("loss", help="drop a share of a node's traffic")
    loss.add_argument("node", nargs="+", help=NODE_HELP)
    loss.add_argument("--rate", type=float, required=True, help="0..1")
    loss.set_defaults(func=cmd_loss)

    disk = cmds.add_parser("disk-full", help="make a broker's log writes fail with ENOSPC")
    disk.add_argument("node", nargs="+", help=NODE_HELP)
    disk.add_argument("--off", action="store_true", help="writes work again")
    disk.set_defaults(func=cmd_disk_full)

    heal = cmds.add_parser("heal", help="clear every fault and resume paused nodes")
    heal.set_defaults(func=cmd_heal)
    for p in (kill, pause, resume, restart, part, delay, loss, disk, heal):
        p.add_argument("--config", metavar="PATH", help=WHERE_HELP)
    chaos_run.register(cmds)


def _target(args) -> tuple[Cluster, str]:
    cluster = Cluster.find(args.config)
    return cluster, cluster.resolve(" ".join(args.node))


def cmd_kill(args) -> int:
    cluster, name = _target(args)
    cluster.kill(name, signal.SIGKILL if args.signal == "KILL" else signal.SIGTERM)
    print(f"{name} killed (SIG{args.signal})")
    return 0


def cmd_pause(args) -> int:
    cluster, name = _target(args)
    duration = parse_duration_s(args.duration) if args.duration is not None else None
    if duration is None:
        cluster.pause(name)
        print(f"{name} paused")
        return 0
    try:  # from before the SIGSTOP: an interruption at any point still resumes the node
        cluster.pause(name)
        print(f"{name} paused for {args.duration}", flush=True)
        time.sleep(duration)  # the pause itself is the requested fault
    finally:  # Ctrl-C, SIGTERM or a closed terminal must not leave the node stopped
        cluster.resume(name)
        print(f"{name} resumed", flush=True)
    return 0


def cmd_resume(args) -> int:
    cluster, name = _target(args)
    cluster.resume(name)
    print(f"{name} resumed")
    return 0


def cmd_restart(args) -> int:
    cluster, name = _target(args)
    cluster.restart(name)
    print(f"{name} restarted (pid {cluster.nodes[name].pid})")
    return 0


def cmd_partition(args) -> int:
    cluster = Cluster.find(args.config)
    groups = [[n for n in g.split(",") if n] for g in args.groups]
    one_way = [cluster.resolve(n) for n in args.one_way.split(",")] if args.one_way else None
    cut = cluster.partition(*groups, one_way_from=one_way)
    print(f"cut {len(cut)} link(s): " + ", ".join(f"{a}->{b}" for a, b in cut))
    return 0


def cmd_delay(args) -> int:
    cluster, name = _target(args)
    cluster.delay(name, args.ms, args.jitter)
    print(f"{name}: everything it sends is delayed {args.ms} ms (+0..{args.jitter} ms)")
    return 0


def cmd_loss(args) -> int:
    cluster, name = _target(args)
    cluster.loss(name, args.rate)
    print(f"{name}: {args.rate:.0%} of its traffic is dropped")
    return 0


def cmd_disk_full(args) -> int:
    cluster, name = _target(args)
    cluster.disk_full(name, not args.off)
    print(f"{name}: writes to its partition logs work again" if args.off else
          f"{name}: every write to its partition logs fails with ENOSPC (disk full)")
    return 0


def cmd_heal(args) -> int:
    report = Cluster.find(args.config).heal_report()
    print(f"healed: {', '.join(report.healed) or 'no running node'}")
    if report.not_running:
        print(f"not running (nothing to heal): {', '.join(report.not_running)}")
    if report.unreachable:
        print(f"error: {report.problem()}", file=sys.stderr)
        return 1
    return 0

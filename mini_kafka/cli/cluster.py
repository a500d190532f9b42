"""`mini-kafka cluster up|down|status|restart`."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from launcher import Cluster
from mini_kafka.cli.table import format_table
from mini_kafka.config import ConfigError
from mini_kafka.errors import KafkaError

MONITOR_INTERVAL_S = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("cluster", help="start, inspect and stop the local cluster")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    up = cmds.add_parser("up", help="start the coordinators, then the brokers")
    up.add_argument("--foreground", action="store_true",
                    help="stay attached; Ctrl-C brings the cluster down")
    up.set_defaults(func=cmd_up)

    status = cmds.add_parser("status", help="show every node: pid, endpoint, state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    down = cmds.add_parser("down", help="stop every node (SIGTERM, then SIGKILL)")
    down.set_defaults(func=cmd_down)

    restart = cmds.add_parser("restart", help="stop one node and start it again")
    restart.add_argument("node", help="a node name, e.g. broker-2 or coordinator-1")
    restart.set_defaults(func=cmd_restart)

    for p in (up, status, down, restart):
        p.add_argument("--config", default="cluster.yaml", help="cluster config (cluster.yaml)")


def cmd_up(args) -> int:
    cluster = Cluster(args.config).start()
    print(_status_table(cluster))
    print(f"\ncluster up in {cluster.startup_s:.2f} s; bootstrap servers: {cluster.bootstrap}")
    if not args.foreground:
        cluster.detach()
        print(f"state in {cluster.state_file}; stop with `mini-kafka cluster down`")
        return 0
    print("running in the foreground; Ctrl-C stops the cluster")
    _run_foreground(cluster)
    return 0


def _run_foreground(cluster: Cluster) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    reported: set[str] = set()
    try:
        while not stop.wait(MONITOR_INTERVAL_S):
            for name, node in cluster.nodes.items():
                if name not in reported and not node.alive():
                    print(f"{name} (pid {node.pid}) exited with code {node.returncode()}",
                          flush=True)
                    reported.add(name)
                elif node.alive():
                    reported.discard(name)
    finally:
        print("stopping the cluster ...", flush=True)
        cluster.stop()
        print("cluster down")


def cmd_status(args) -> int:
    cluster = Cluster.attach(args.config)
    if args.json:
        print(json.dumps([s.__dict__ for s in cluster.status()], indent=2))
    else:
        print(_status_table(cluster))
    return 0


def cmd_down(args) -> int:
    cluster = Cluster.attach(args.config)
    cluster.stop()
    print(f"cluster down: {len(cluster.nodes)} node(s) stopped; data kept in {cluster.data_dir}")
    return 0


def cmd_restart(args) -> int:
    cluster = Cluster.attach(args.config)
    cluster.restart(args.node)
    print(f"{args.node} restarted (pid {cluster.nodes[args.node].pid})")
    return 0


def _status_table(cluster: Cluster) -> str:
    try:  # the controller's view of the brokers, also for brokers that are down
        brokers = cluster.metadata().brokers
    except (KafkaError, ConfigError):
        brokers = {}
    rows = []
    for s in cluster.status():
        uptime = s.info.get("uptime_ms")
        rows.append([s.name, s.role, s.pid if s.state != "dead" else "-", s.endpoint, s.state,
                     f"{uptime / 1000:.1f}s" if uptime is not None else "-",
                     _detail(s, brokers)])
    return format_table(["NODE", "ROLE", "PID", "ENDPOINT", "STATE", "UPTIME", "DETAIL"], rows)


def _detail(s, brokers: dict) -> str:
    info = s.info
    if s.role == "coordinator":
        if not info:
            return ""
        return (f"raft {info['raft_role']}, term {info['term']}, commit {info['commit_index']}"
                f", metadata offset {info['metadata_offset']}")
    registered = brokers.get(int(s.name.split("-")[1]))
    if registered is None:
        return "not registered" if brokers else ""
    text = f"{'fenced' if registered['fenced'] else 'unfenced'}, epoch {registered['epoch']}"
    if info:
        text += f", metadata offset {info['metadata_offset']}"
    return text

"""`mini-kafka cluster up|down|status|restart`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from launcher import Cluster, discovery
from mini_kafka.cli import cluster_views, web
from mini_kafka.cli.common import WHERE_HELP
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
    up.add_argument("--console", action="store_true",
                    help="serve the web console too (mini-kafka console), until Ctrl-C")
    up.add_argument("--console-port", type=int, metavar="PORT",
                    help="with --console: its port (default: console.port)")
    up.set_defaults(func=cmd_up)

    status = cmds.add_parser("status", help="a summary line, then every node: pid, "
                                             "endpoint, state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--role", choices=["coordinator", "broker"],
                        help="only the nodes of this role")
    status.add_argument("--down", action="store_true",
                        help="only nodes that are not serving: dead, unresponsive, starting, "
                             "or brokers fenced or not registered")
    status.add_argument("--summary", action="store_true",
                        help="only the summary line: nodes by condition, the controller, "
                             "partitions under-replicated and offline")
    status.set_defaults(func=cmd_status)

    down = cmds.add_parser("down", help="stop every node (SIGTERM, then SIGKILL)")
    down.set_defaults(func=cmd_down)

    restart = cmds.add_parser("restart", help="stop one node and start it again")
    restart.add_argument("node", help="a node name, e.g. broker-2 or coordinator-1")
    restart.set_defaults(func=cmd_restart)

    up.add_argument("--config", metavar="FILE",
                    help="the cluster.yaml to start (default: $MINI_KAFKA_CLUSTER, else the "
                         "nearest cluster.yaml in this directory or one above it)")
    for p in (status, down, restart):
        p.add_argument("--config", metavar="PATH", help=WHERE_HELP)


class ProgressLine:
    """`cluster up` waiting, on a terminal: one line redrawn in place while it changes
    ("3 of 3 coordinators, 17 of 40 brokers ready"), erased when the wait ends, so what
    stays on screen is the same as without a terminal."""

    def __init__(self, stream):
        self.stream = stream if stream.isatty() else None
        self.shown = ""

    def __call__(self, counts: dict[str, tuple[int, int]]) -> None:
        text = "waiting: " + ", ".join(f"{ready} of {total} {role}s"
                                       for role, (ready, total) in counts.items() if total)
        text += " ready"
        if self.stream is not None and text != self.shown:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()
            self.shown = text

    def erase(self) -> None:
        if self.stream is not None and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = ""


def cmd_up(args) -> int:
    config_path = discovery.cluster_config(args.config)
    progress = ProgressLine(sys.stderr)
    try:
        cluster = Cluster(config_path).start(progress)
    finally:
        progress.erase()
    # From here a foreground cluster's Ctrl-C is its stop, even one that comes while the
    # status table is still being gathered.
    stop = _stop_on_signals() if args.foreground else None
    for warning in cluster.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(_status_table(cluster))
    print(f"\ncluster up in {cluster.startup_s:.2f} s")
    print(_bootstrap_lines(cluster))
    console = web.start(config_path, port=args.console_port) if args.console else None
    if console is not None:
        print(console.banner(), flush=True)
    if not args.foreground:
        cluster.detach()
        print(f"state in {cluster.state_file}; stop with `mini-kafka cluster down`")
        if console is not None:
            print("Ctrl-C stops the console; the cluster keeps running", flush=True)
            console.wait()
        return 0
    # Flushed: through a pipe (`| tee`, a test, a supervisor) the user must see it now.
    print("running in the foreground; Ctrl-C stops the cluster", flush=True)
    try:
        _run_foreground(cluster, stop)
    finally:
        if console is not None:
            console.stop()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _run_foreground(cluster: Cluster, stop: threading.Event) -> None:
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
    cluster = Cluster.find(args.config)
    if args.json:
        statuses = cluster.status()
        if args.role or args.down:
            statuses = cluster_views.select(statuses, _brokers(cluster), args.role, args.down)
        print(json.dumps([s.__dict__ for s in statuses], indent=2))
    elif args.summary:
        print(cluster_views.summary(cluster.status(), _metadata(cluster)))
    else:
        print(_status_table(cluster, args.role, args.down))
        print(f"\n{_bootstrap_lines(cluster)}")
    return 0


def _metadata(cluster: Cluster):
    """The controller's view of the brokers and partitions, or None if none answers."""
    try:
        return cluster.metadata()
    except (KafkaError, ConfigError):
        return None


def _brokers(cluster: Cluster) -> dict | None:
    image = _metadata(cluster)
    return image.brokers if image is not None else None


def _bootstrap_lines(cluster: Cluster) -> str:
    return (f"Kafka clients and tools (bootstrap.servers): {cluster.kafka_bootstrap}\n"
            f"mini_kafka.client (bootstrap_servers):       {cluster.bootstrap}")


def cmd_down(args) -> int:
    cluster = Cluster.find(args.config)
    cluster.stop()
    print(f"cluster down: {len(cluster.nodes)} node(s) stopped; data kept in {cluster.data_dir}")
    return 0


def cmd_restart(args) -> int:
    cluster = Cluster.find(args.config)
    cluster.restart(args.node)
    print(f"{args.node} restarted (pid {cluster.nodes[args.node].pid})")
    return 0


def _status_table(cluster: Cluster, role: str | None = None, down: bool = False) -> str:
    image = _metadata(cluster)  # the controller's view, also of brokers that are down
    brokers = image.brokers if image else {}
    # A replica out of its partition's ISR: a broker that is down, catching up, or stuck.
    behind: dict[int, int] = {}
    for p in (image.partitions.values() if image else []):
        for b in set(p["replicas"]) - set(p["isr"]):
            behind[b] = behind.get(b, 0) + 1
    rows = []
    statuses = cluster.status()
    for s in cluster_views.select(statuses, image.brokers if image else None, role, down):
        uptime = s.info.get("uptime_ms")
        rows.append([s.name, s.role, s.pid if s.state != "dead" else "-", s.endpoint, s.state,
                     f"{uptime / 1000:.1f}s" if uptime is not None else "-",
                     _detail(s, brokers, behind)])
    table = cluster_views.summary(statuses, image) + "\n\n"
    table += format_table(["NODE", "ROLE", "PID", "ENDPOINT", "STATE", "UPTIME", "DETAIL"],
                          rows) if rows else "(no node matches)"
    short = sum(len(p["isr"]) < len(p["replicas"]) for p in image.partitions.values()) \
        if image else 0
    if short:
        table += (f"\n{short} partition(s) under-replicated: "
                  "`mini-kafka topic describe --under-replicated` lists them")
    return table


def _detail(s, brokers: dict, behind: dict[int, int]) -> str:
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
    if behind.get(registered["id"]):
        text += f", out of the ISR of {behind[registered['id']]} partition(s)"
    if info.get("offline_replicas"):
        text += f", {len(info['offline_replicas'])} replica(s) offline (storage errors)"
    if info.get("disk_full"):
        text += ", disk full (chaos)"
    return text

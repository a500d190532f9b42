"""`mini-kafka chaos run` and `chaos check`: a seeded chaos run on a fresh cluster, and
re-judging a recorded history."""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

from launcher.nemesis import FAULT_KINDS
from launcher.workload import CLIENTS
from mini_kafka.cli.common import CliError, parse_duration_s
from mini_kafka.config import load_config


def register(cmds: argparse._SubParsersAction) -> None:
    run = cmds.add_parser(
        "run", help="a workload under a seeded nemesis on a fresh cluster, then a verdict")
    run.add_argument("--config", metavar="FILE",
                     help="the cluster.yaml to copy (sizes, timeouts; default: "
                          "$MINI_KAFKA_CLUSTER, else the nearest cluster.yaml); it runs on "
                          "free ports with its own data under DATA_DIR/chaos-SEED/")
    run.add_argument("--duration", default="60s", help="how long faults go on (60s)")
    run.add_argument("--seed", type=int, help="replays a run's fault schedule (default: "
                                              "random, printed)")
    run.add_argument("--faults", default=",".join(FAULT_KINDS),
                     help=f"comma-separated, of: {', '.join(FAULT_KINDS)} (default: all)")
    run.add_argument("--interval", default="3s", help="quiet time between faults (+-50%%)")
    run.add_argument("--hold", default="3s", help="how long each fault lasts (+-50%%)")
    run.add_argument("--topic-rf", type=int, default=3, help="replication factor (3)")
    run.add_argument("--partitions", type=int, default=6)
    run.add_argument("--idle-partitions", type=int, default=6,
                     help="partitions of a second topic nothing writes, which must come "
                          "back in sync too (0: no such topic)")
    run.add_argument("--min-insync-replicas", type=int, default=2)
    run.add_argument("--client", default="mini-kafka", choices=CLIENTS,
                     help="who drives the workload: mini-kafka's own client (default), or "
                          "kafka: confluent-kafka (librdkafka) over the brokers' Kafka "
                          "listeners, idempotent with acks=all as Kafka's default producer")
    run.add_argument("--acks", default="all", choices=["all", "1", "0"])
    run.add_argument("--producers", type=int, default=3)
    run.add_argument("--consumers", type=int, default=3)
    run.add_argument("--rate", type=float, default=100, help="records/s per producer")
    run.add_argument("--unclean-leader-election", action="store_true",
                     help="let an out-of-sync replica lead (and lose acknowledged writes)")
    run.add_argument("--beyond-n-minus-1", action="store_true",
                     help="inject faults without waiting for replicas to be back in sync")
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    run.set_defaults(func=cmd_run)

    recheck = cmds.add_parser("check", help="run the checker again over a history file")
    recheck.add_argument("history", help="logs/chaos-SEED.jsonl")
    recheck.add_argument("--json", action="store_true")
    recheck.set_defaults(func=cmd_check)


def cmd_run(args) -> int:
    from launcher import Cluster, discovery
    from launcher.chaos_report import render, to_json
    from launcher.chaos_runner import ChaosRun, RunSettings
    from launcher.history import History
    from launcher.nemesis import NemesisSettings, ScheduleError
    from launcher.workload import WorkloadSettings

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    config_path = discovery.cluster_config(args.config)
    base = load_config(config_path)
    if not 1 <= args.topic_rf <= base.brokers.count:
        raise CliError(f"--topic-rf {args.topic_rf}: must be 1..{base.brokers.count} (the "
                       f"brokers in {config_path})")
    if not 1 <= args.min_insync_replicas <= args.topic_rf:
        raise CliError(f"--min-insync-replicas {args.min_insync_replicas}: must be "
                       f"1..{args.topic_rf} (the replication factor)")
    for name in ("partitions", "producers", "consumers"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1")
    if args.idle_partitions < 0:
        raise CliError("--idle-partitions must not be negative")
    if args.rate <= 0:
        raise CliError("--rate must be positive")
    settings = RunSettings(
        seed=seed,
        nemesis=NemesisSettings(parse_duration_s(args.duration), parse_duration_s(args.interval),
                                parse_duration_s(args.hold),
                                tuple(k.strip() for k in args.faults.split(",") if k.strip())),
        workload=WorkloadSettings(client=args.client, partitions=args.partitions,
                                  producers=args.producers,
                                  consumers=args.consumers, rate_per_producer_per_s=args.rate,
                                  acks=args.acks),
        replication_factor=args.topic_rf, min_insync_replicas=args.min_insync_replicas,
        idle_partitions=args.idle_partitions,
        unclean_leader_election=args.unclean_leader_election,
        stay_within_n_minus_1=not args.beyond_n_minus_1)
    history_path = base.data_dir / f"chaos-{seed}.jsonl"
    history = History(history_path)
    cluster = Cluster.copy_on_free_ports(base, base.data_dir / f"chaos-{seed}")
    try:
        run = ChaosRun(cluster, settings, history)
    except ScheduleError as e:
        raise CliError(str(e)) from None
    if not args.json:
        print(f"chaos run, seed {seed}: {len(run.schedule)} faults planned over "
              f"{settings.nemesis.duration_s:g} s; cluster data in {cluster.data_dir}",
              flush=True)
    _clear_previous_run(cluster)
    try:
        cluster.start()
        verdict = run.run()
    finally:
        run.stop()
        cluster.stop()
        history.close()
    if args.json:
        print(json.dumps(to_json(verdict, seed, str(history_path), history.events), indent=2))
    else:
        print(render(verdict, seed, history.events[0]["settings"], str(history_path),
                     history.events))
    return 0 if verdict.valid else 1


def _clear_previous_run(cluster) -> None:
    """A seed's data directory is the run's own: an earlier run with the same seed left
    its data behind for inspection; a new run starts clean (unless that one still runs)."""
    from launcher import Cluster
    from launcher.cluster import ClusterError

    if not cluster.data_dir.exists():
        return
    try:
        earlier = Cluster.attach(cluster.config)
        if any(node.alive() for node in earlier.nodes.values()):
            raise CliError(f"a chaos run is still running in {cluster.data_dir}")
    except ClusterError:
        pass  # no state file: nothing runs there
    shutil.rmtree(cluster.data_dir)


def cmd_check(args) -> int:
    from launcher.chaos_report import render, to_json
    from launcher.checker import check
    from launcher.history import load

    path = Path(args.history)
    try:
        events = load(path)
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror}") from None
    start = next((e for e in events if e["type"] == "run" and e["phase"] == "start"), None)
    if start is None:
        raise CliError(f"{path}: no 'run start' event; not a chaos history")
    verdict = check(events)
    if args.json:
        print(json.dumps(to_json(verdict, start["seed"], str(path), events), indent=2))
    else:
        print(render(verdict, start["seed"], start["settings"], str(path), events))
    return 0 if verdict.valid else 1
